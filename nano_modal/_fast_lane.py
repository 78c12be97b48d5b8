"""The fast lane: the API's unary calls over a plain TCP connection, for latency.

gRPC's Python runtime costs ~0.5 ms of CPU on each side of every call on the machines we
measured (docs/BENCHMARKS.md), more than the work of most calls. The fast lane carries the
same protobuf messages to the same service methods, framed by hand, and costs a fraction
of that. gRPC stays the protocol of record: streaming calls always use it, and a client
that cannot reach the fast lane (an old server, a firewall, a network-less container that
only has the server's Unix socket) keeps using gRPC for everything.

Frames, both ways: a header `>IIB` (length of the body, call id, kind), then the body.

    client -> server  AUTH  body = token                   (first frame; once per connection;
                                                            at most MAX_AUTH_FRAME bytes)
                      CALL  body = len(method):u8, method, request bytes
                      CANCEL                               (the caller gave up on call id)
    server -> client  OK    body = response bytes
                      ERROR body = grpc status code:u8, details (utf-8)

Calls on one connection run concurrently on the server and are answered in any order.

Nothing large is read from a peer that has not shown a valid token: the AUTH frame must come
first, small, within AUTH_TIMEOUT; a connection with a bad token gets UNAUTHENTICATED for its
first call and is closed. An authenticated connection with no call running that sends nothing
for IDLE_TIMEOUT is closed; clients reconnect before reusing a connection idle for half that.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import struct
import threading
import time
from typing import Any

import grpc

from . import config
from .proto import api_pb2

log = logging.getLogger("nano_modal")

HEADER = struct.Struct(">IIB")
AUTH, CALL, CANCEL = 0, 1, 2  # client -> server kinds
OK, ERROR = 0, 1  # server -> client kinds
MAX_FRAME = config.GRPC_MAX_MESSAGE  # the same bound as gRPC messages
# Tokens are ~50 bytes: this bounds what the server buffers for a peer it does not know yet.
MAX_AUTH_FRAME = 4096
ENV_AUTH_TIMEOUT = "NANO_MODAL_FAST_LANE_AUTH_TIMEOUT"
ENV_IDLE_TIMEOUT = "NANO_MODAL_FAST_LANE_IDLE_TIMEOUT"
# Seconds a new connection has to send its AUTH frame.
AUTH_TIMEOUT = float(os.environ.get(ENV_AUTH_TIMEOUT) or 10.0)
# Seconds an authenticated connection with no call running may stay silent: idle sockets of
# clients long gone must not pile up. Clients drop and reopen a connection idle for half this,
# so the server never closes one under a call being sent.
IDLE_TIMEOUT = float(os.environ.get(ENV_IDLE_TIMEOUT) or 300.0)
CLIENT_REUSE_LIMIT = IDLE_TIMEOUT / 2
_SERVICE = api_pb2.DESCRIPTOR.services_by_name["NanoModal"]
# The service's unary-unary methods: the ones the fast lane carries, with their response types.
UNARY_METHODS: dict[str, tuple[type[Any], type[Any]]] = {
    m.name: (getattr(api_pb2, m.input_type.name), getattr(api_pb2, m.output_type.name))
    for m in _SERVICE.methods
    if not m.client_streaming and not m.server_streaming
}


def enabled() -> bool:
    return os.environ.get(config.ENV_FAST_LANE, "1") != "0"


# Host and port, or the path of a Unix socket.
Address = tuple[str, int] | str
# Beside a container's relayed server socket (worker/sandbox.py ServerLink): the fast lane,
# relayed the same way, for containers whose network has no route to the server.
UNIX_SOCKET_NAME = "fast.sock"


def address(server_url: str, port: int) -> Address | None:
    """Where to reach the fast lane the server at `server_url` offers on `port`: None when it
    offers none (port 0), it is turned off here, or there is no way to it (a Unix socket
    without a relayed fast lane beside it, or an address not `host:port`)."""
    if not port or not enabled():
        return None
    if server_url.startswith("unix:"):
        path = os.path.join(os.path.dirname(server_url.removeprefix("unix:")), UNIX_SOCKET_NAME)
        return path if os.path.exists(path) else None
    if ":" not in server_url or server_url.startswith(("dns:", "ipv4:", "ipv6:")):
        return None
    return server_url.rsplit(":", 1)[0].strip("[]"), port


def frame(call_id: int, kind: int, body: bytes) -> bytes:
    return HEADER.pack(len(body), call_id, kind) + body


def call_body(method: str, request: bytes) -> bytes:
    """A CALL frame's body: the method's name (length-prefixed), then the serialized request."""
    name = method.encode()
    return bytes([len(name)]) + name + request


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    """The error gRPC would have raised, so that callers translate both lanes' errors alike."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


_CODES: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def _error_from(body: bytes) -> grpc.aio.AioRpcError:
    return rpc_error(_CODES.get(body[0], grpc.StatusCode.UNKNOWN), body[1:].decode("utf-8", "replace"))


class FastLane:
    """One multiplexed connection from an asyncio client (the SDK's background loop)."""

    def __init__(self, address: Address, token: str) -> None:
        self._address = address
        self._token = token
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._ids = itertools.count(1)
        self._connecting = asyncio.Lock()
        self._last_used = 0.0  # loop time of the last frame sent or received

    async def call(self, method: str, request: Any, timeout: float | None) -> Any:
        response_type = UNARY_METHODS[method][1]
        return response_type.FromString(await self.call_raw(method, request.SerializeToString(), timeout))

    async def call_raw(self, method: str, request: bytes, timeout: float | None) -> bytes:
        """The same call with the messages as bytes (a follower server forwards them as they came)."""
        writer = await self._connected()
        call_id = next(self._ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            writer.write(frame(call_id, CALL, call_body(method, request)))
            self._last_used = asyncio.get_running_loop().time()
            # Not wait_for: on Python 3.11 it can swallow a cancellation that arrives as the
            # answer does (a worker asked to stop then kept polling).
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            writer.write(frame(call_id, CANCEL, b""))
            raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except asyncio.CancelledError:
            # As gRPC would: the server stops the call too (a blocked Queue.get must not take
            # an item for a caller that is gone).
            if not writer.is_closing():
                writer.write(frame(call_id, CANCEL, b""))
            raise
        finally:
            self._pending.pop(call_id, None)

    async def _connected(self) -> asyncio.StreamWriter:
        async with self._connecting:
            now = asyncio.get_running_loop().time()
            stale = not self._pending and now - self._last_used > CLIENT_REUSE_LIMIT
            if self._writer is not None and stale:
                self._writer.close()  # the server may be closing it as idle right now: a fresh one
            if self._writer is None or self._writer.is_closing():
                try:
                    if isinstance(self._address, str):
                        reader, writer = await asyncio.open_unix_connection(self._address)
                    else:
                        reader, writer = await asyncio.open_connection(*self._address)
                except OSError as exc:
                    raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"fast lane: {exc}") from None
                writer.write(frame(0, AUTH, self._token.encode()))
                self._writer = writer
                self._reader_task = asyncio.create_task(self._read(reader, writer))
            return self._writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length, call_id, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
                body = await reader.readexactly(length)
                self._last_used = asyncio.get_running_loop().time()
                future = self._pending.get(call_id)
                if future is None or future.done():
                    continue
                if kind == OK:
                    future.set_result(body)
                else:
                    future.set_exception(_error_from(body))
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            lost = rpc_error(grpc.StatusCode.UNAVAILABLE, "fast lane: connection to the server lost")
            if writer is self._writer:  # not a connection already replaced by a fresh one
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(lost)
            writer.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task


class BlockingFastLane:
    """For the container's blocking link: one connection per thread, one call at a time on it."""

    def __init__(self, address: Address, token: str) -> None:
        self._address = address
        self._token = token
        self._local = threading.local()  # this thread's socket, and when it was last used

    def call(self, method: str, request: Any, timeout: float | None) -> Any:
        response_type = UNARY_METHODS[method][1]
        sock = self._socket()
        try:
            sock.settimeout(timeout)
            sock.sendall(frame(1, CALL, call_body(method, request.SerializeToString())))
            length, _, kind = HEADER.unpack(self._read(sock, HEADER.size))
            body = self._read(sock, length)
            self._local.last_used = time.monotonic()
        except TimeoutError:
            self._drop()  # the server cancels the call when the connection closes
            raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except OSError as exc:
            self._drop()
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"fast lane: {exc}") from None
        except BaseException:
            self._drop()  # interrupted mid-call (Ctrl-C): its answer must not be read as the next call's
            raise
        if kind != OK:
            raise _error_from(body)
        return response_type.FromString(body)

    def _socket(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None and time.monotonic() - getattr(self._local, "last_used", 0.0) > CLIENT_REUSE_LIMIT:
            self._drop()  # the server may be closing it as idle right now: a fresh one
            sock = None
        if sock is None:
            try:
                sock = _connect(self._address)
                sock.sendall(frame(0, AUTH, self._token.encode()))
            except OSError as exc:
                raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"fast lane: {exc}") from None
            self._local.sock = sock
        return sock

    def _drop(self) -> None:
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            sock.close()

    @staticmethod
    def _read(sock: socket.socket, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionResetError("the server closed the fast lane")
            data += chunk
        return bytes(data)


def _connect(address: Address) -> socket.socket:
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(config.CONNECT_TIMEOUT)
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection(address, timeout=config.CONNECT_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
