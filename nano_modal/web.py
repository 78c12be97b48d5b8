"""Web endpoint decorators: put them under `@app.function()` (or on a class method).

```python
@app.function()
@nano_modal.fastapi_endpoint(method="POST")
def square(x: int):
    return {"square": x * x}

print(square.get_web_url())   # http://HOST:PORT/<app>/square/
```

With a server given `--web-domain nano.localhost`, each endpoint has a host of its own,
`http://<app>-<function>.nano.localhost:PORT/` (or `http://<label>.nano.localhost:PORT/` with
`label=`), as on Modal; the path form keeps working beside it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .exception import InvalidError
from .proto import api_pb2

F = TypeVar("F", bound=Callable[..., Any])
WEB_MARK = "__nano_modal_web__"
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _checked_label(label: str | None) -> str:
    """A `label=`: the endpoint's host name under the web domain, so one DNS label."""
    if label is None:
        return ""
    if not _LABEL.fullmatch(label):
        raise InvalidError(f"web endpoint label must be 1-63 lower-case letters, digits or '-', got {label!r}")
    return label


def _mark(endpoint: api_pb2.WebEndpoint) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        if not callable(fn):
            raise InvalidError(f"web endpoint decorators go on functions, got {fn!r}")
        setattr(fn, WEB_MARK, endpoint)
        return fn

    return decorate


def fastapi_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """Serve the function as one HTTP endpoint; query parameters and JSON bodies become its arguments.
    `docs=True` serves FastAPI's /docs, /redoc and /openapi.json beside it."""
    if _warn_parentheses_missing is not None:
        raise InvalidError("use @fastapi_endpoint() with parentheses")
    if method.upper() not in _HTTP_METHODS:
        raise InvalidError(f"fastapi_endpoint(method=...) must be one of {', '.join(_HTTP_METHODS)}, got {method!r}")
    return _mark(
        api_pb2.WebEndpoint(
            kind="fastapi_endpoint",
            method=method.upper(),
            requires_proxy_auth=requires_proxy_auth,
            docs=docs,
            label=_checked_label(label),
        )
    )


def web_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """Modal's older name for `fastapi_endpoint`, accepted with a DeprecationWarning."""
    warnings.warn("web_endpoint is called fastapi_endpoint now", DeprecationWarning, stacklevel=2)
    return fastapi_endpoint(
        _warn_parentheses_missing, method=method, label=label, docs=docs, requires_proxy_auth=requires_proxy_auth
    )


def asgi_app(
    _warn_parentheses_missing: Any = None, *, label: str | None = None, requires_proxy_auth: bool = False
) -> Callable[[F], F]:
    """The function returns an ASGI app (FastAPI, Starlette, ...), built once per container."""
    if _warn_parentheses_missing is not None:
        raise InvalidError("use @asgi_app() with parentheses")
    return _mark(
        api_pb2.WebEndpoint(kind="asgi_app", requires_proxy_auth=requires_proxy_auth, label=_checked_label(label))
    )


def wsgi_app(
    _warn_parentheses_missing: Any = None, *, label: str | None = None, requires_proxy_auth: bool = False
) -> Callable[[F], F]:
    """The function returns a WSGI app (Flask, Django, ...), built once per container."""
    if _warn_parentheses_missing is not None:
        raise InvalidError("use @wsgi_app() with parentheses")
    return _mark(
        api_pb2.WebEndpoint(kind="wsgi_app", requires_proxy_auth=requires_proxy_auth, label=_checked_label(label))
    )


def web_server(
    port: int,
    *,
    startup_timeout: float = 5.0,
    label: str | None = None,
    custom_domains: Any = None,
    requires_proxy_auth: bool = False,
) -> Callable[[F], F]:
    """The function starts an HTTP server of its own on `port` (any language, any framework);
    the gateway proxies each request to it. Called once per container, it should start the
    server (a thread or a subprocess) and return; requests wait up to `startup_timeout` seconds
    for the port to accept connections.

    ```python
    @app.function()
    @nano_modal.web_server(8000)
    def files():
        subprocess.Popen("python -m http.server 8000", shell=True)
    ```

    Containers share the worker's network unless `block_network=True`, so two containers of
    such a function on one worker would both want the port: give it `max_containers=1` per
    worker, or pick distinct ports. WebSockets are relayed for `@asgi_app` only.
    """
    if custom_domains:
        raise InvalidError("web_server(custom_domains=...) is not supported: endpoints live under the gateway's URL")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidError(f"web_server(port) must be a TCP port number (1-65535), got {port!r}")
    if startup_timeout <= 0:
        raise InvalidError(f"web_server(startup_timeout=...) must be positive, got {startup_timeout!r}")
    endpoint = api_pb2.WebEndpoint(
        kind="web_server",
        port=port,
        startup_timeout=startup_timeout,
        requires_proxy_auth=requires_proxy_auth,
        label=_checked_label(label),
    )
    return _mark(endpoint)
