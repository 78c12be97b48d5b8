"""Web endpoints of every kind behind proxy auth, each answering with the request headers it
got, and endpoints that misbehave: for tests/security/test_server_web.py."""

from __future__ import annotations

import json
import threading
from typing import Any

import nano_modal

app = nano_modal.App("server-security-tests")

WEB_SERVER_PORT = 47631  # an unusual port: containers share the worker's network here


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


@app.function()
@nano_modal.fastapi_endpoint(method="POST", requires_proxy_auth=True)
def guarded_function(item: dict[str, Any]) -> dict[str, Any]:
    return item


@app.function()
@nano_modal.asgi_app(requires_proxy_auth=True)
def guarded_asgi():  # type: ignore[no-untyped-def]
    async def web(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = json.dumps(_headers(scope)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return web


@app.function()
@nano_modal.wsgi_app(requires_proxy_auth=True)
def guarded_wsgi():  # type: ignore[no-untyped-def]
    def web(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
        start_response("200 OK", [("content-type", "application/json")])
        return [json.dumps(headers).encode()]

    return web


@app.function(max_containers=1)  # one server per port: containers share the worker's network here
@nano_modal.web_server(WEB_SERVER_PORT, startup_timeout=10, requires_proxy_auth=True)
def guarded_web_server() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", WEB_SERVER_PORT), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()


@app.cls()
class Guarded:
    tag: str = nano_modal.parameter(default="plain")

    @nano_modal.fastapi_endpoint(requires_proxy_auth=True)
    def whoami(self) -> str:
        return f"guarded {self.tag}"


@app.cls(scaledown_window=2)
class Public:
    tag: str = nano_modal.parameter(default="plain")

    @nano_modal.fastapi_endpoint()
    def whoami(self) -> str:
        return f"public {self.tag}"


@app.function()
@nano_modal.asgi_app()
def public_echo():  # type: ignore[no-untyped-def]
    """Public: answers with the headers it got, and the size of the body."""

    async def web(scope: dict[str, Any], receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.dumps({"headers": _headers(scope), "size": size}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return web


@app.function()
@nano_modal.asgi_app()
def bad_headers():  # type: ignore[no-untyped-def]
    """Answers with the response head the query asks for: an int header value (which the old
    gateway turned into that many zero bytes), or an oversized one."""

    async def web(scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["query_string"].decode()
        value: Any = 300 * 1024 * 1024 if kind == "int" else b"x" * (1024 * 1024)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-bad", value)]})
        await send({"type": "http.response.body", "body": b"should not arrive"})

    return web


@app.function()
@nano_modal.asgi_app()
def deaf_websocket():  # type: ignore[no-untyped-def]
    """Accepts a WebSocket and never reads from it."""

    async def web(scope: dict[str, Any], receive: Any, send: Any) -> None:
        import asyncio

        await send({"type": "websocket.accept"})
        await asyncio.sleep(300)

    return web
