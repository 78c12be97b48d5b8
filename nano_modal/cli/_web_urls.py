"""Every web endpoint URL of an app, functions and class methods alike, for `serve` and `deploy`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._web_host import endpoint_url
from ..client import Client
from ..proto import api_pb2
from ..web import WEB_MARK

if TYPE_CHECKING:
    from ..app import App


def _url(client: Client, app_ref: str, endpoint_name: str, web: api_pb2.WebEndpoint) -> str:
    return endpoint_url(client.web_base_url, client.web_domain, client.workspace, app_ref, endpoint_name, web.label)


def endpoint_urls(app: App, app_ref: str, client: Client) -> list[tuple[str, str]]:
    """(endpoint name, URL) of each web endpoint, addressed by `app_ref` (the app's name: a
    deployed app's URLs, and a served app's, which stay the same across reloads)."""
    if not client.web_base_url:
        return []
    urls = []
    for name, fn in app.registered_functions.items():
        web = getattr(fn.raw_f, WEB_MARK, None)
        if web is not None:
            urls.append((name, _url(client, app_ref, name, web)))
    for name, cls in app.registered_classes.items():
        if cls.raw_f is None:
            continue
        if cls.options.web is not None:  # a Server: the class itself answers HTTP
            urls.append((name, _url(client, app_ref, name, cls.options.web)))
        for method in cls.methods():
            if method.web.kind:
                endpoint = f"{name}.{method.name}"
                urls.append((endpoint, _url(client, app_ref, endpoint, method.web)))
    return urls
