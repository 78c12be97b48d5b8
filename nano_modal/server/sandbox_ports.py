"""A sandbox's `encrypted_ports`: reachable over HTTP through the gateway (`Sandbox.tunnels()`).

A sandbox holds no token, so it cannot long-poll for its tunnels' requests as a function
container does for `modal.forward` (tunnels.py). The server answers them itself: each request
opens a `tcp` exec in the sandbox's agent (container/sandbox_agent.py), a byte pipe to
127.0.0.1:<port> inside the sandbox's network namespace, writes the request to it as HTTP/1.1
with `Connection: close`, and reads the response with h11. URLs, size limits and credential
(the tunnel's unguessable key) are modal.forward's; the tunnels close when the sandbox exits
(ControlBase's exit hook).

`inbound_cidr_allowlist` is checked against the caller's address as the gateway's socket saw
it (behind a reverse proxy, the proxy's: then only the proxy's address can be allowed; the
check fails closed). `create_connect_token(port)` opens one more tunnel to the port whose
requests must carry one of its tokens (`Authorization: Bearer`, or the `_modal_connect_token`
query parameter, as in Modal); the port receives the token's metadata as `X-Verified-User-Data`,
and never that header as the caller sent it.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

import h11

from .. import config
from ..container.sandbox_agent import TCP_BUILTIN
from ..proto import api_pb2
from .errors import Invalid
from .tunnels import LABEL_PREFIX, MAX_TUNNELS_PER_CONTAINER, PATH_PREFIX

if TYPE_CHECKING:
    from .sandboxes import SandboxPlane, SandboxState

READ_POLL = 5.0  # seconds per wait for the port's answer (the whole request is bounded by tunnels.py)
FRAMING = frozenset({b"host", b"content-length", b"connection"})  # set here, for the hop to the port
TOKEN_BYTES = 32  # a connect token: unguessable
TOKEN_PARAM = "_modal_connect_token"  # Modal's query parameter for a connect token (e.g. for WebSockets)
VERIFIED_HEADER = b"x-verified-user-data"  # Modal's: the token's user_metadata, set only by the gateway
MAX_CONNECT_TOKENS = 1000  # per sandbox port: tokens are kept in memory for the sandbox's life


@dataclass
class ConnectPort:
    """A port reached with connect tokens: its tunnel's key, and each token's user metadata."""

    key: str
    tokens: dict[str, str] = field(default_factory=dict)


class NoAnswer(Exception):
    """The port gave no HTTP response (nothing listens, it reset, or it sent something else)."""


def check_ports(request: api_pb2.SandboxCreateRequest) -> None:
    """Refuse, before the sandbox is placed, ports that could not be opened."""
    ports = list(request.encrypted_ports)
    if not ports:
        return
    if request.definition.block_network:  # a tunnel is network access, as for modal.forward
        raise Invalid("a sandbox with block_network=True cannot have encrypted_ports: a tunnel would give it a network")
    if bad := [p for p in ports if not 1 <= p <= 65535]:
        raise Invalid(f"invalid port number {bad[0]}")
    if len(set(ports)) != len(ports):
        raise Invalid("encrypted_ports lists a port twice")
    if len(ports) > MAX_TUNNELS_PER_CONTAINER:
        raise Invalid(f"a sandbox may have at most {MAX_TUNNELS_PER_CONTAINER} encrypted_ports")


def check_outbound(definition: api_pb2.FunctionDefinition) -> None:
    """A sandbox's outbound_cidr_allowlist: IPv4 networks (the worker parses it again)."""
    for cidr in definition.outbound_cidr_allowlist:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise Invalid(f"outbound_cidr_allowlist: {cidr!r} is not a network in CIDR form") from None
        if network.version != 4:
            raise Invalid(f"outbound_cidr_allowlist: {cidr!r}: sandboxes have no IPv6 route out")


def check_allowlist(cidrs: list[str]) -> None:
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise Invalid(
                f"inbound_cidr_allowlist: {cidr!r} is not a network in CIDR form (e.g. 203.0.113.0/24)"
            ) from None


def _admitted(sb: SandboxState, client: str) -> bool:
    """Whether the caller's address is in the sandbox's inbound_cidr_allowlist (if it has one)."""
    if not sb.inbound_allowlist:
        return True
    try:
        address = ipaddress.ip_address(client)
    except ValueError:  # no address (not a TCP client): not one of the allowed
        return False
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in sb.inbound_allowlist)


def open_ports(plane: SandboxPlane, sb: SandboxState, ports: list[int]) -> None:
    """A tunnel for each port, answered through the sandbox's agent."""
    for port in ports:
        handler = functools.partial(answer, plane, sb.sandbox_id, port)
        key = plane.control.tunnels.start(sb.sandbox_id, port, handler=handler)
        sb.tunnels.append(api_pb2.SandboxTunnel(port=port, path=PATH_PREFIX + key, host_label=LABEL_PREFIX + key))


async def answer(
    plane: SandboxPlane, sandbox_id: str, port: int, request: api_pb2.TunnelHttpRequest
) -> api_pb2.TunnelRespondRequest:
    """One request to `port` of the sandbox, made from inside it; the response (502 if none)."""
    sb = plane.sandboxes.get(sandbox_id)
    if sb is not None and not _admitted(sb, request.client_address):
        return _plain(403, "403 Forbidden: this address is not in the sandbox's inbound_cidr_allowlist")
    connection = h11.Connection(h11.CLIENT)
    try:
        sent = _encode(connection, request, port)
    except h11.LocalProtocolError as exc:
        return _plain(400, f"400 Bad Request: {exc}")
    from .sandboxes import Finished  # (sandboxes.py imports this module)

    try:
        state = plane.exec(api_pb2.ContainerExecRequest(container_id=sandbox_id, builtin=TCP_BUILTIN, argv=[str(port)]))
    except Finished:
        return _plain(502, "502 Bad Gateway: the sandbox has finished")
    try:
        plane.write(api_pb2.ContainerExecPutInputRequest(exec_id=state.exec_id, data=sent))
        return await _response(plane, connection, state.exec_id)
    except NoAnswer as exc:
        return _plain(502, f"502 Bad Gateway: nothing answered on port {port} in the sandbox ({exc})")
    finally:
        _forget(plane, sandbox_id, state.exec_id)


def connect_token(
    plane: SandboxPlane, request: api_pb2.SandboxCreateConnectTokenRequest, scope: str = ""
) -> api_pb2.SandboxCreateConnectTokenResponse:
    """A new token for HTTP requests to `request.port` of the sandbox (its tunnel opened on first use)."""
    from .sandboxes import Finished

    sb = plane.get(request.sandbox_id, scope)
    if sb.done or sb.result:
        raise Finished(f"sandbox {sb.sandbox_id} has finished: it takes no connections")
    if not 1 <= request.port <= 65535:
        raise Invalid(f"invalid port number {request.port}")
    if sb.fn.definition.block_network:
        raise Invalid("a sandbox with block_network=True takes no connections: a tunnel would give it a network")
    port = sb.connect_ports.get(request.port)
    if port is None:
        port = ConnectPort("")  # its key once its tunnel is open: the handler holds it
        handler = functools.partial(_answer_with_token, plane, sb.sandbox_id, request.port, port)
        port.key = plane.control.tunnels.start(sb.sandbox_id, request.port, handler=handler)
        sb.connect_ports[request.port] = port
    if len(port.tokens) >= MAX_CONNECT_TOKENS:
        raise Invalid(f"port {request.port} of this sandbox has {MAX_CONNECT_TOKENS} connect tokens already")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    port.tokens[token] = request.user_metadata
    return api_pb2.SandboxCreateConnectTokenResponse(
        path=PATH_PREFIX + port.key, host_label=LABEL_PREFIX + port.key, token=token
    )


async def _answer_with_token(
    plane: SandboxPlane, sandbox_id: str, port: int, connect: ConnectPort, request: api_pb2.TunnelHttpRequest
) -> api_pb2.TunnelRespondRequest:
    """A request to a connect-token port: admitted with one of its tokens, which stays here."""
    target, _, query = request.path.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    token = next((v for k, v in params if k == TOKEN_PARAM), "")
    kept: list[api_pb2.TunnelHeader] = []
    for header in request.headers:
        name = header.name.lower()
        if name == VERIFIED_HEADER:
            continue  # only the gateway says who the caller is
        if name == b"authorization" and header.value[:7].lower() == b"bearer ":
            bearer = header.value[7:].decode("latin-1").strip()
            if bearer in connect.tokens:  # ours: not passed on (another bearer is the app's own)
                token = token or bearer
                continue
        kept.append(header)
    if token not in connect.tokens:
        return _plain(401, "401 Unauthorized: send a connect token (Authorization: Bearer <token>)")
    if connect.tokens[token]:
        kept.append(api_pb2.TunnelHeader(name=VERIFIED_HEADER, value=connect.tokens[token].encode()))
    if any(k == TOKEN_PARAM for k, _ in params):
        rest = urlencode([(k, v) for k, v in params if k != TOKEN_PARAM])
        target = f"{target}?{rest}" if rest else target
    else:
        target = request.path
    del request.headers[:]
    request.headers.extend(kept)
    request.path = target
    return await answer(plane, sandbox_id, port, request)


def _encode(connection: h11.Connection, request: api_pb2.TunnelHttpRequest, port: int) -> bytes:
    host = next((h.value for h in request.headers if h.name.lower() == b"host"), f"127.0.0.1:{port}".encode())
    headers = [(h.name, h.value) for h in request.headers if h.name.lower() not in FRAMING]
    length = str(len(request.body)).encode()
    framed = [(b"host", host), *headers, (b"content-length", length), (b"connection", b"close")]
    parts = [connection.send(h11.Request(method=request.method, target=request.path, headers=framed))]
    if request.body:
        parts.append(connection.send(h11.Data(data=request.body)))
    parts.append(connection.send(h11.EndOfMessage()))
    return b"".join(p or b"" for p in parts)


async def _response(plane: SandboxPlane, connection: h11.Connection, exec_id: str) -> api_pb2.TunnelRespondRequest:
    offset, closed = 0, False
    head: h11.Response | None = None
    body: list[bytes] = []
    size = 0
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            raise NoAnswer(f"not an HTTP/1.1 response: {exc}") from None
        if event is h11.NEED_DATA:
            if closed:
                raise NoAnswer(_why(plane, exec_id))
            out = await plane.read(exec_id, 1, offset, READ_POLL)
            offset = out.next_offset
            if out.data:
                connection.receive_data(out.data)
            elif out.eof:
                connection.receive_data(b"")  # the port closed the connection: the end of a body without a length
                closed = True
        elif isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > config.TUNNEL_MAX_BODY:
                return _plain(502, f"502 Bad Gateway: the response is over {config.TUNNEL_MAX_BODY} bytes")
            body.append(bytes(event.data))
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            if head is None:
                raise NoAnswer(_why(plane, exec_id))
            headers = [api_pb2.TunnelHeader(name=bytes(k), value=bytes(v)) for k, v in head.headers]
            return api_pb2.TunnelRespondRequest(status=head.status_code, headers=headers, body=b"".join(body))


def _why(plane: SandboxPlane, exec_id: str) -> str:
    """What the agent said went wrong (its stderr), or that the connection just closed."""
    state = plane.execs.get(exec_id)
    said = bytes(state.out[2]).decode(errors="replace").strip() if state is not None else ""
    return said or "the connection closed without a response"


def _forget(plane: SandboxPlane, sandbox_id: str, exec_id: str) -> None:
    """Close the pipe if it is still open, and drop its state now: a request's response should
    not stay in memory for FORGET_AFTER as a command's output does."""
    state = plane.execs.pop(exec_id, None)
    sb = plane.sandboxes.get(sandbox_id)
    if sb is None:
        return
    sb.running.discard(exec_id)
    if state is not None and state.returncode is None and not sb.done:
        sb.down.put_nowait(api_pb2.SandboxRelayDown(exec_id=exec_id, kill=True))


def _plain(status: int, text: str) -> api_pb2.TunnelRespondRequest:
    header = api_pb2.TunnelHeader(name=b"content-type", value=b"text/plain")
    return api_pb2.TunnelRespondRequest(status=status, headers=[header], body=(text + "\n").encode())
