"""Tunnels (`modal.forward(port)`): a port inside a function container, reachable over HTTP.

A container cannot be dialled from the server (it may sit in a network namespace on another
host), so the container dials out: it long-polls TunnelNext for the HTTP requests the
gateway received at /_tunnel/<key>/..., makes each one to 127.0.0.1:<port> itself, and sends
the response back with TunnelRespond. Bodies travel whole, bounded as web endpoints' are
(http_limits.MAX_BODY); there is no raw TCP and no WebSocket through a tunnel.

The key is the tunnel's only credential, as a Modal tunnel's random host name is. Tunnels
live in memory: they end with the container, and with the server.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .. import config
from ..proto import api_pb2
from .errors import Invalid, NotFound, ServerError
from .http_limits import BadResponseHead, request_body, response_head
from .state import Signal

PATH_PREFIX = "/_tunnel/"  # app names cannot start with '_' (deployments.py): no endpoint is shadowed
# With a web domain, a tunnel also answers at http://tunnel-<key>.<web domain>/ (its own host, as on
# Modal: apps that make absolute URLs work); the gateway looks for a tunnel before an endpoint.
LABEL_PREFIX = "tunnel-"
# Headers about one hop's connection (RFC 9110 7.6.1), and the body's length, which each hop
# sets for itself: a tunnel relays whole bodies.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)
KEY_BYTES = 16  # 128 bits: a tunnel's URL cannot be guessed
MAX_TUNNELS_PER_CONTAINER = 16
MAX_WAITING_REQUESTS = 256  # per tunnel: requests the container has not taken yet
RESPONSE_TIMEOUT = 300.0  # seconds the gateway waits for the container's answer to one request


class PortForwarded(ServerError):
    status = grpc.StatusCode.ALREADY_EXISTS


class TunnelGone(Exception):
    """The tunnel closed (its `with modal.forward()` block ended, or its container exited)."""


@dataclass
class _Tunnel:
    key: str
    container_id: str
    port: int
    waiting: deque[api_pb2.TunnelHttpRequest] = field(default_factory=deque)  # not yet taken by the container
    answers: dict[str, asyncio.Future[api_pb2.TunnelRespondRequest]] = field(default_factory=dict)
    changed: Signal = field(default_factory=Signal)
    closed: bool = False
    # A sandbox's port (sandbox_ports.py): the server answers each request itself, through the
    # sandbox's agent, instead of queueing it for the container to poll.
    handler: Handler | None = None
    in_flight: int = 0  # the handler's requests not answered yet


Handler = Callable[[api_pb2.TunnelHttpRequest], Awaitable[api_pb2.TunnelRespondRequest]]


class Tunnels:
    def __init__(self) -> None:
        self._tunnels: dict[str, _Tunnel] = {}

    def start(self, container_id: str, port: int, handler: Handler | None = None) -> str:
        if not 1 <= port <= 65535:
            raise Invalid(f"invalid port number {port}")
        own = [t for t in self._tunnels.values() if t.container_id == container_id]
        if handler is None and any(t.port == port and t.handler is None for t in own):  # (a sandbox's may share)
            raise PortForwarded(f"port {port} is already forwarded")
        if len(own) >= MAX_TUNNELS_PER_CONTAINER:
            raise Invalid(f"a container may forward at most {MAX_TUNNELS_PER_CONTAINER} ports at once")
        key = secrets.token_hex(KEY_BYTES)
        self._tunnels[key] = _Tunnel(key, container_id, port, handler=handler)
        return key

    def exists(self, key: str) -> bool:
        return key in self._tunnels

    def stop(self, container_id: str, key: str) -> None:
        tunnel = self._tunnels.get(key)
        if tunnel is not None and tunnel.container_id == container_id:
            self._close(tunnel)

    def container_exited(self, container_id: str) -> None:
        for tunnel in [t for t in self._tunnels.values() if t.container_id == container_id]:
            self._close(tunnel)

    def _close(self, tunnel: _Tunnel) -> None:
        self._tunnels.pop(tunnel.key, None)
        tunnel.closed = True
        for answer in tunnel.answers.values():
            if not answer.done():
                answer.set_exception(TunnelGone())
        tunnel.changed.fire()

    def _own(self, container_id: str, key: str) -> _Tunnel | None:
        tunnel = self._tunnels.get(key)
        return tunnel if tunnel is not None and tunnel.container_id == container_id else None

    async def next(self, container_id: str, key: str, timeout: float) -> tuple[list[api_pb2.TunnelHttpRequest], bool]:
        """The requests waiting for the container (after up to `timeout` for one); True once closed."""
        tunnel = self._own(container_id, key)
        if tunnel is None:
            return [], True
        if not tunnel.waiting and not tunnel.closed:
            await tunnel.changed.wait(tunnel.changed.event, timeout)
        taken: list[api_pb2.TunnelHttpRequest] = []
        size = 0
        while tunnel.waiting and (not taken or size + len(tunnel.waiting[0].body) <= config.TUNNEL_MAX_BODY):
            request = tunnel.waiting.popleft()  # bodies within one gRPC message: the rest on the next poll
            taken.append(request)
            size += len(request.body)
        return taken, tunnel.closed and not tunnel.waiting

    def respond(self, container_id: str, answer: api_pb2.TunnelRespondRequest) -> None:
        tunnel = self._own(container_id, answer.tunnel_key)
        waiting = tunnel.answers.get(answer.request_key) if tunnel else None
        if waiting is None or waiting.done():
            raise NotFound(f"no request {answer.request_key!r} waits on this tunnel")
        waiting.set_result(answer)

    async def request(
        self, key: str, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes, client: str = ""
    ) -> api_pb2.TunnelRespondRequest:
        """Hand one HTTP request to the tunnel's container; its answer. NotFound: no such tunnel;
        TunnelGone: it closed first; TimeoutError: no answer in RESPONSE_TIMEOUT."""
        tunnel = self._tunnels.get(key)
        if tunnel is None:
            raise NotFound("no tunnel here: it was closed, or never opened")
        pairs = [api_pb2.TunnelHeader(name=name, value=value) for name, value in headers]
        if tunnel.handler is not None:  # each request is a connection in the sandbox: as many as may wait
            if tunnel.in_flight >= MAX_WAITING_REQUESTS:
                raise Invalid("the sandbox's port is not keeping up: too many requests wait")
            relayed = api_pb2.TunnelHttpRequest(
                method=method, path=path, headers=pairs, body=body, client_address=client
            )
            tunnel.in_flight += 1
            try:
                async with asyncio.timeout(RESPONSE_TIMEOUT):
                    return await tunnel.handler(relayed)
            finally:
                tunnel.in_flight -= 1
        if len(tunnel.waiting) >= MAX_WAITING_REQUESTS:
            raise Invalid("the tunnel's container is not keeping up: too many requests wait")
        request_key = secrets.token_hex(8)
        answer: asyncio.Future[api_pb2.TunnelRespondRequest] = asyncio.get_running_loop().create_future()
        tunnel.answers[request_key] = answer
        tunnel.waiting.append(
            api_pb2.TunnelHttpRequest(request_key=request_key, method=method, path=path, headers=pairs, body=body)
        )
        tunnel.changed.fire()
        try:
            async with asyncio.timeout(RESPONSE_TIMEOUT):
                return await answer
        finally:
            tunnel.answers.pop(request_key, None)


def tunnel_key_of_label(label: str) -> str:
    """The key a host label names ("" when it names no tunnel)."""
    return label.removeprefix(LABEL_PREFIX) if label.startswith(LABEL_PREFIX) else ""


async def relay_to_tunnel(tunnels: Tunnels, request: Request, headers: list[tuple[bytes, bytes]]) -> Response:
    """The gateway's answer to a request at /_tunnel/<key>/...: `headers` are the request's, less
    the platform's credentials (the gateway's `_forwarded_headers`)."""
    body = await request_body(request)
    if isinstance(body, Response):
        return body
    if len(body) > config.TUNNEL_MAX_BODY:
        return PlainTextResponse(
            f"413 Content Too Large: a tunnel relays at most {config.TUNNEL_MAX_BODY} bytes\n", status_code=413
        )
    path = "/" + request.path_params.get("path", "")
    if request.url.query:
        path += "?" + request.url.query
    sent = [(k, v) for k, v in headers if k.decode("latin-1").lower() not in HOP_BY_HOP]
    try:
        client = request.client.host if request.client is not None else ""
        answer = await tunnels.request(request.path_params["key"], request.method, path, sent, body, client)
        status, answer_headers = response_head(
            {"status": answer.status, "headers": [(h.name, h.value) for h in answer.headers]}
        )
    except NotFound as exc:
        return PlainTextResponse(f"404 Not Found: {exc}\n", status_code=404)
    except Invalid as exc:
        return PlainTextResponse(f"503 Service Unavailable: {exc}\n", status_code=503)
    except TunnelGone:
        return PlainTextResponse("502 Bad Gateway: the tunnel closed before answering\n", status_code=502)
    except TimeoutError:
        return PlainTextResponse("504 Gateway Timeout: the container did not answer\n", status_code=504)
    except BadResponseHead as exc:
        return PlainTextResponse(f"502 Bad Gateway: {exc}\n", status_code=502)
    response = Response(answer.body, status_code=status)
    kept = [(k, v) for k, v in answer_headers if k.decode("latin-1").lower() not in HOP_BY_HOP]
    response.raw_headers = [*kept, (b"content-length", str(len(answer.body)).encode())]
    return response
