"""Run one HTTP request or WebSocket session (as sent by the gateway) through the user's web code.

A handler is an async generator. For HTTP it yields `{"status", "headers"}`, then body
chunks, then `response_end(last chunk)` (the app may go on working after it: background
tasks); for a WebSocket, the app's accept/send/close messages as plain dicts, while the
client's messages arrive through `WebInbound`.
"""

from __future__ import annotations

import asyncio
import collections
import pickle
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from .. import config
from ..proto import api_pb2
from .io import ContainerIO

Request = dict[str, Any]
Message = dict[str, Any]


# Hop-by-hop headers describe one connection; a proxy does not pass them on (RFC 9110 7.6.1).
_HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te", b"trailer"}


def response_end(last_chunk: bytes = b"") -> Message:
    """The end of an HTTP response, carrying its last body bytes: the gateway then learns that
    the response is complete no later than the client does (which may leave at once)."""
    return {"type": config.WEB_RESPONSE_END, "body": last_chunk}


class WebInbound:
    """A WebSocket client's messages, fetched from the server as the app asks for them."""

    def __init__(self, io: ContainerIO, input_id: str) -> None:
        self._io = io
        self._input_id = input_id
        self._pending: collections.deque[Message] = collections.deque()
        self._received = 0
        self._closed = False

    async def next(self) -> Message:
        while not self._pending:
            if self._closed:
                return {"type": "websocket.disconnect", "code": 1006}
            request = api_pb2.ContainerWebReceiveRequest(
                container_id=self._io.container_id,
                input_id=self._input_id,
                after=self._received,
                timeout=config.WEB_RECEIVE_POLL,
            )
            response = await asyncio.to_thread(
                self._io.call, "ContainerWebReceive", request, config.WEB_RECEIVE_POLL + 30
            )
            self._pending.extend(pickle.loads(m) for m in response.messages)
            self._received += len(response.messages)
            self._closed = response.closed
        return self._pending.popleft()


Handler = Callable[[Request, WebInbound], AsyncIterator[Any]]


def make_web_handler(web: api_pb2.WebEndpoint, user_fn: Callable[..., Any]) -> Handler:
    if web.kind == "fastapi_endpoint":
        from fastapi import FastAPI

        if web.docs:  # Modal's docs=True: the interactive docs beside the endpoint
            api = FastAPI(docs_url="/docs", redoc_url="/redoc", openapi_url="/openapi.json")
        else:
            api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        api.add_api_route("/", user_fn, methods=[web.method or "GET"])
        return _asgi_handler(lambda: api)
    if web.kind == "asgi_app":
        return _asgi_handler(user_fn)
    if web.kind == "wsgi_app":
        return _wsgi_handler(user_fn)
    if web.kind == "web_server":
        return _web_server_handler(user_fn, web.port, web.startup_timeout or config.WEB_SERVER_STARTUP_TIMEOUT)
    raise ValueError(f"unknown web endpoint kind {web.kind!r}")


def _scope(request: Request) -> dict[str, Any]:
    websocket = request.get("type") == "websocket"
    scope = {
        "type": "websocket" if websocket else "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws" if websocket else "http",
        # ASGI: `path` is the whole path, `root_path` the part the gateway routed on (the path
        # form's /<app>/<function>), so URLs the app builds from the request are right.
        "path": request.get("root_path", "") + request["path"],
        "raw_path": (request.get("root_path", "") + request["path"]).encode(),
        "root_path": request.get("root_path", ""),
        "query_string": request["query_string"],
        "headers": [(k.lower(), v) for k, v in request["headers"]],
        "client": (request["client"], 0),
        "server": ("nano-modal", 80),
    }
    if websocket:
        scope["subprotocols"] = request.get("subprotocols", [])
    else:
        scope["method"] = request["method"]
    return scope


async def _run_asgi(app: Any, scope: dict[str, Any], receive: Callable[[], Any]) -> AsyncGenerator[Message, None]:
    """Run the app on one connection, yielding what it sends until it returns."""
    sent: asyncio.Queue[Message | None] = asyncio.Queue()

    async def run() -> None:
        try:
            await app(scope, receive, sent.put)
        finally:
            await sent.put(None)

    task = asyncio.create_task(run())
    try:
        while (message := await sent.get()) is not None:
            yield message
    finally:
        await task  # the app may still work after responding (background tasks); its errors surface here


def _asgi_handler(factory: Callable[[], Any]) -> Handler:
    app: Any = None

    async def handle(request: Request, inbound: WebInbound) -> AsyncIterator[Any]:
        nonlocal app
        if app is None:
            app = factory()  # once per container, like Modal's @asgi_app
        if request.get("type") == "websocket":
            async for part in _websocket_session(app, request, inbound):
                yield part
            return
        delivered = False
        finished = asyncio.Event()

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": request["body"], "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        messages = _run_asgi(app, _scope(request), receive)
        try:
            async for message in messages:
                if message["type"] == "http.response.start":
                    yield {"status": message["status"], "headers": list(message.get("headers", []))}
                elif message["type"] == "http.response.body":
                    body = bytes(message.get("body") or b"")
                    if not message.get("more_body", False):
                        yield response_end(body)  # before waiting for the app's work after its answer
                        break
                    if body:
                        yield body
        finally:
            finished.set()  # before waiting for the app: it may be listening for the disconnect
            await messages.aclose()

    return handle


async def _websocket_session(app: Any, request: Request, inbound: WebInbound) -> AsyncIterator[Message]:
    """The app's side of a WebSocket: its accept/send/close messages, as plain dicts for the gateway."""
    connected = False

    async def receive() -> Message:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        return await inbound.next()

    async for message in _run_asgi(app, _scope(request), receive):
        kind = message["type"]
        if kind == "websocket.accept":
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            yield {"type": kind, "subprotocol": message.get("subprotocol"), "headers": headers}
        elif kind == "websocket.send":
            data = message.get("bytes")
            yield {"type": kind, "bytes": bytes(data) if data is not None else None, "text": message.get("text")}
        elif kind in ("websocket.close", "websocket.http.response.start"):
            reason = message.get("reason")
            yield {"type": "websocket.close", "code": int(message.get("code", 1000)), "reason": str(reason or "")}
            return


def _web_server_handler(start: Callable[[], Any], port: int, startup_timeout: float) -> Handler:
    """@web_server: the user's function starts a server on `port`; requests are proxied to it."""
    import httpx

    client: httpx.AsyncClient | None = None
    starting = asyncio.Lock()

    async def started() -> httpx.AsyncClient:
        nonlocal client
        async with starting:
            if client is None:
                await asyncio.to_thread(start)  # once per container
                await _wait_for_port(port, startup_timeout)
                client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=None)
        return client

    async def handle(request: Request, inbound: WebInbound) -> AsyncIterator[Any]:
        del inbound
        if request.get("type") == "websocket":
            yield {"type": "websocket.close", "code": 1003, "reason": "@web_server endpoints serve HTTP only"}
            return
        http = await started()
        query = request["query_string"].decode("latin-1")
        url = request["path"] + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in request["headers"] if k.lower() not in _HOP_BY_HOP]
        response = await http.send(
            http.build_request(request["method"], url, headers=headers, content=request["body"]), stream=True
        )
        try:
            kept = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP]
            yield {"status": response.status_code, "headers": kept}
            async for chunk in response.aiter_raw():
                yield chunk
            yield response_end()  # the last bytes are sent already (streaming is not held back)
        finally:
            await response.aclose()

    return handle


async def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"@web_server: nothing listens on port {port} after {timeout:g}s") from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            return


def _wsgi_handler(factory: Callable[[], Any]) -> Handler:
    app: Any = None

    async def handle(request: Request, inbound: WebInbound) -> AsyncIterator[Any]:
        nonlocal app
        if app is None:
            app = factory()
        if request.get("type") == "websocket":
            yield {"type": "websocket.close", "code": 1003, "reason": "WSGI apps serve HTTP only"}
            return
        import io

        environ = {
            "REQUEST_METHOD": request["method"],
            "SCRIPT_NAME": request.get("root_path", ""),
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
        body = [chunk for chunk in chunks if chunk]
        for chunk in body[:-1]:
            yield chunk
        yield response_end(body[-1] if body else b"")

    return handle
