"""`modal.forward(port)` and `Tunnel`: a port inside a running function container, reachable
from outside over HTTP at `tunnel.url`, for as long as the `with` block runs.

The server cannot dial into a container, so the container relays: a task on the SDK's loop
long-polls the server for the requests its gateway received for the tunnel, makes each one
to 127.0.0.1:<port>, and sends back the response (server/tunnels.py). What differs from
Modal's tunnels, which are raw TLS connections on a host of their own:
- the URL is the gateway's: http://tunnel-<key>.<web domain>:<port> when the server has a web
  domain (`--web-domain`), else http://<server>/_tunnel/<key> (apps see a path prefix they did
  not choose); plain HTTP when the gateway is;
- requests and responses are relayed whole (no streaming, no WebSocket);
- there is no raw TCP (`unencrypted=True`) and no HTTP/2 (`h2_enabled=True`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from . import config
from ._utils.aio import run_blocking, run_in_background
from .client import Client
from .exception import InvalidError
from .proto import api_pb2

log = logging.getLogger("nano_modal")
# Headers the relay does not pass on: each hop sets its own (see server/tunnels.py).
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
_RETRY_PAUSE = 1.0  # seconds between polls after the server could not be reached


@dataclass(frozen=True)
class Tunnel:
    """A port forwarded from a running container, made by `modal.forward()`."""

    host: str
    port: int
    unencrypted_host: str = ""
    unencrypted_port: int = 0
    _scheme: str = "http"  # the gateway's
    _path: str = ""  # the tunnel's prefix on the gateway: /_tunnel/<key>

    @property
    def url(self) -> str:
        """The URL that reaches the forwarded port (its root)."""
        default = {"http": 80, "https": 443}.get(self._scheme)
        port = "" if self.port == default else f":{self.port}"
        return f"{self._scheme}://{self.host}{port}{self._path}"

    @property
    def tls_socket(self) -> tuple[str, int]:
        """(host, port) of the gateway, when it serves HTTPS; a tunnel here is HTTP at `url`."""
        if self._scheme != "https":
            raise InvalidError(f"this tunnel has no TLS socket: the gateway serves it over plain HTTP at {self.url}")
        return (self.host, self.port)

    @property
    def tcp_socket(self) -> tuple[str, int]:
        raise InvalidError("nano-modal tunnels relay HTTP requests, not raw TCP: use tunnel.url")


def gateway_tunnel(client: Client, path: str, host_label: str) -> Tunnel:
    """Where the gateway serves a tunnel: its own host under the web domain, else a path of the server's."""
    base = urlsplit(client.web_base_url)
    scheme = base.scheme or "http"
    port = base.port or (443 if scheme == "https" else 80)
    if client.web_domain:  # a host of its own, as on Modal (apps that make absolute URLs work)
        return Tunnel(f"{host_label}.{client.web_domain}", port, _scheme=scheme)
    return Tunnel(base.hostname or "", port, _scheme=scheme, _path=path)


class forward:  # Modal's name, lower case: `with modal.forward(8000) as tunnel:`
    """Expose `port` of this container over HTTP while the block runs (`with` or `async with`)."""

    def __init__(self, port: int, *, unencrypted: bool = False, h2_enabled: bool = False, client: Any = None) -> None:
        del client  # one client per process
        if not isinstance(port, int) or isinstance(port, bool):
            raise InvalidError(f"The port argument should be an int, not {port!r}")
        if not 1 <= port <= 65535:
            raise InvalidError(f"Invalid port number {port}")
        if unencrypted:
            raise InvalidError("forward(unencrypted=True): nano-modal tunnels relay HTTP, not raw TCP")
        if h2_enabled:
            raise InvalidError("forward(h2_enabled=True): nano-modal tunnels relay HTTP/1.1 requests")
        self.port = port
        self._key = ""
        self._relay: asyncio.Task[None] | None = None

    def __enter__(self) -> Tunnel:
        return run_blocking(self._open())

    def __exit__(self, *exc: object) -> None:
        run_blocking(self._close())

    async def __aenter__(self) -> Tunnel:
        return await run_in_background(self._open())

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await run_in_background(self._close())

    async def _open(self) -> Tunnel:
        container_id = os.environ.get(config.ENV_CONTAINER_ID)
        if not container_id or not config.is_remote():
            raise InvalidError("Forwarding ports only works inside a container (a function's or a class's)")
        client = await Client.get()
        started = await client.stub.TunnelStart(api_pb2.TunnelStartRequest(container_id=container_id, port=self.port))
        self._key = started.tunnel_key
        self._relay = asyncio.create_task(_relay(client, container_id, self._key, self.port))
        return gateway_tunnel(client, started.path, started.host_label)

    async def _close(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._relay
        if self._key:
            client = await Client.get()
            container_id = os.environ.get(config.ENV_CONTAINER_ID, "")
            with contextlib.suppress(Exception):  # the container may be exiting: the server closes it then
                await client.stub.TunnelStop(api_pb2.TunnelStopRequest(container_id=container_id, tunnel_key=self._key))


async def _relay(client: Client, container_id: str, key: str, port: int) -> None:
    """Take the tunnel's requests from the server and answer each from 127.0.0.1:`port`."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=None) as local:
        pending: set[asyncio.Task[None]] = set()
        while True:
            poll = api_pb2.TunnelNextRequest(container_id=container_id, tunnel_key=key, timeout=config.WEB_RECEIVE_POLL)
            try:
                batch = await client.stub.TunnelNext(poll)
            except Exception as exc:  # a server restart or failover: the tunnel is gone with it, or comes back
                log.debug("tunnel poll failed: %s", exc)
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            for request in batch.requests:
                task = asyncio.create_task(_answer(client, local, container_id, key, port, request))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if batch.closed:
                return


async def _answer(
    client: Client, local: Any, container_id: str, key: str, port: int, request: api_pb2.TunnelHttpRequest
) -> None:
    headers = [(h.name, h.value) for h in request.headers]
    try:
        outgoing = local.build_request(request.method, request.path, headers=headers, content=request.body)
        response = await local.send(outgoing, stream=True)
        try:  # the body as sent (compressed if it was): its headers say how to read it
            chunks, size = [], 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > config.TUNNEL_MAX_BODY:
                    raise _TooLarge
                chunks.append(chunk)
        finally:
            await response.aclose()
        status, body = response.status_code, b"".join(chunks)
        pairs = [
            api_pb2.TunnelHeader(name=k, value=v)
            for k, v in response.headers.raw
            if k.decode().lower() not in _HOP_BY_HOP
        ]
    except _TooLarge:
        status, pairs = 502, [api_pb2.TunnelHeader(name=b"content-type", value=b"text/plain")]
        body = f"502 Bad Gateway: the response is over {config.TUNNEL_MAX_BODY} bytes\n".encode()
    except Exception as exc:  # refused, reset, or the relay closing: the caller hears why
        status, pairs = 502, [api_pb2.TunnelHeader(name=b"content-type", value=b"text/plain")]
        body = f"502 Bad Gateway: nothing answered on port {port} in the container ({type(exc).__name__})\n".encode()
    answer = api_pb2.TunnelRespondRequest(
        container_id=container_id,
        tunnel_key=key,
        request_key=request.request_key,
        status=status,
        headers=pairs,
        body=body,
    )
    with contextlib.suppress(Exception):  # the caller gave up, or the tunnel closed meanwhile
        await client.stub.TunnelRespond(answer)


class _TooLarge(Exception):
    pass


def refuse_sandbox_ports(unencrypted: Sequence[int], h2: Sequence[int]) -> None:
    """Sandbox.create(unencrypted_ports=/h2_ports=): what the gateway's HTTP/1.1 relay cannot carry."""
    if unencrypted:
        raise InvalidError(
            "Sandbox.create(unencrypted_ports=): nano-modal tunnels relay HTTP, not raw TCP; use encrypted_ports"
        )
    if h2:
        raise InvalidError("Sandbox.create(h2_ports=): nano-modal tunnels relay HTTP/1.1 requests; use encrypted_ports")
