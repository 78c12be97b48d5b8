"""A follower's HTTP port: web endpoints and the dashboard, proxied to the active server.

The gateway (gateway.py) runs beside the control plane, so only the active server has one.
A follower answers on its own `--http-port` by relaying each request, streamed both ways,
to the active server's gateway (WebSockets too), so that a load balancer may send web
traffic to any server. When the follower takes over, `SwitchableApp` starts handing
requests to its own gateway instead, on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("nano_modal.server")

ASGIApp = Callable[[Scope, Receive, Send], Any]

# Headers about one hop's connection, which the next hop sets for itself (RFC 9110 7.6.1).
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}
_WS_OWN_HEADERS = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}


class SwitchableApp:
    """The ASGI app uvicorn serves: the proxy while following, the gateway once active."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class WebProxy:
    """Every server makes one; only a follower uses it. httpx and websockets (~60 ms of imports)
    therefore load on its first request, not at every server start."""

    def __init__(self, active_web_url: Callable[[], str]) -> None:
        self._active_web_url = active_web_url  # the active server's gateway ("" while unknown)
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            response = await self._http_request(Request(scope, receive))
            await response(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send))

    def _target(self, scope: Scope, scheme: str) -> str | None:
        base = self._active_web_url()
        if not base:
            return None
        query = scope.get("query_string", b"").decode()
        url = base.replace("http://", f"{scheme}://", 1) + scope["path"]
        return f"{url}?{query}" if query else url

    async def _http_request(self, request: Request) -> Response:
        url = self._target(request.scope, "http")
        if url is None:
            return PlainTextResponse("503 Service Unavailable: no active server right now\n", status_code=503)
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=10.0))
        headers = [(k, v) for k, v in request.headers.items() if k not in _HOP_BY_HOP]
        if "host" in request.headers:  # the active gateway routes host-form endpoints by it
            headers.append(("host", request.headers["host"]))
        upstream = self._client.build_request(request.method, url, headers=headers, content=request.stream())
        try:
            response = await self._client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return PlainTextResponse(f"502 Bad Gateway: the active server did not answer ({exc})\n", 502)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            finally:
                await response.aclose()

        proxied = StreamingResponse(body(), status_code=response.status_code)
        proxied.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.multi_items()
            if k.lower() not in _HOP_BY_HOP
        ]
        return proxied

    async def _websocket(self, client: WebSocket) -> None:
        import websockets

        url = self._target(client.scope, "ws")
        if url is None:
            await client.close(code=1013)  # try again later
            return
        headers = [(k, v) for k, v in client.headers.items() if k not in _HOP_BY_HOP | _WS_OWN_HEADERS]
        active = urlsplit(url)
        connect_to: dict[str, Any] = {"host": active.hostname, "port": active.port}
        if "host" in client.headers:
            # websockets sends the URL's host as Host: name the client's, and connect to the active
            # gateway's address, which routes host-form endpoints by that header.
            url = url.replace(active.netloc, client.headers["host"], 1)
        try:
            upstream = await websockets.connect(
                url, additional_headers=headers, max_size=None, proxy=None, **connect_to
            )
        except (OSError, websockets.exceptions.WebSocketException) as exc:
            log.info("web proxy: the active server refused a WebSocket: %s", exc)
            await client.close(code=1011)
            return
        await client.accept()

        async def to_upstream() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    message = await client.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    await upstream.send(message["bytes"] if message.get("bytes") is not None else message["text"])

        async def to_client() -> None:
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                async for message in upstream:
                    if isinstance(message, bytes):
                        await client.send_bytes(message)
                    else:
                        await client.send_text(message)

        tasks = [asyncio.create_task(to_upstream()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()
            with contextlib.suppress(RuntimeError):
                await client.close(code=upstream.close_code or 1000)
