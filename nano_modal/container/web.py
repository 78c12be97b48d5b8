"""Run one HTTP request (as sent by the gateway) through the user's web code.

The handler is an async generator: first `{"status", "headers"}`, then body chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..proto import api_pb2

Request = dict[str, Any]
Handler = Callable[[Request], AsyncIterator[Any]]


def make_web_handler(web: api_pb2.WebEndpoint, user_fn: Callable[..., Any]) -> Handler:
    if web.kind == "fastapi_endpoint":
        from fastapi import FastAPI

        api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        api.add_api_route("/", user_fn, methods=[web.method or "GET"])
        return _asgi_handler(lambda: api)
    if web.kind == "asgi_app":
        return _asgi_handler(user_fn)
    if web.kind == "wsgi_app":
        return _wsgi_handler(user_fn)
    raise ValueError(f"unknown web endpoint kind {web.kind!r}")


def _asgi_handler(factory: Callable[[], Any]) -> Handler:
    app: Any = None

    async def handle(request: Request) -> AsyncIterator[Any]:
        nonlocal app
        if app is None:
            app = factory()  # once per container, like Modal's @asgi_app
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request["method"],
            "scheme": "http",
            "path": request["path"],
            "raw_path": request["path"].encode(),
            "root_path": "",
            "query_string": request["query_string"],
            "headers": [(k.lower(), v) for k, v in request["headers"]],
            "client": (request["client"], 0),
            "server": ("nano-modal", 80),
        }
        sent: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        delivered = False
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": request["body"], "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            await sent.put(message)

        async def run() -> None:
            try:
                await app(scope, receive, send)
            finally:
                await sent.put(None)

        task = asyncio.create_task(run())
        try:
            while (message := await sent.get()) is not None:
                if message["type"] == "http.response.start":
                    yield {"status": message["status"], "headers": list(message.get("headers", []))}
                elif message["type"] == "http.response.body":
                    if message.get("body"):
                        yield bytes(message["body"])
                    if not message.get("more_body", False):
                        break
        finally:
            finished.set()
            await task

    return handle


def _wsgi_handler(factory: Callable[[], Any]) -> Handler:
    app: Any = None

    async def handle(request: Request) -> AsyncIterator[Any]:
        nonlocal app
        if app is None:
            app = factory()
        import io

        environ = {
            "REQUEST_METHOD": request["method"],
            "SCRIPT_NAME": "",
            "PATH_INFO": request["path"],
            "QUERY_STRING": request["query_string"].decode("latin-1"),
            "SERVER_NAME": "nano-modal",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": request["client"],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(request["body"]),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for key, value in request["headers"]:
            name = key.decode("latin-1").upper().replace("-", "_")
            if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[name] = value.decode("latin-1")
            else:
                environ[f"HTTP_{name}"] = value.decode("latin-1")
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        chunks = await asyncio.to_thread(lambda: list(app(environ, start_response)))
        status, headers = started
        yield {"status": int(status.split()[0]), "headers": [(k.encode(), v.encode()) for k, v in headers]}
        for chunk in chunks:
            if chunk:
                yield chunk

    return handle
