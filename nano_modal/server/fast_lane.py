"""The server's end of the fast lane (framing in nano_modal/_fast_lane.py).

Each call goes to the same `Service` method gRPC would call, with a context that answers
the two questions the service asks of one: who is calling (`invocation_metadata`, from the
connection's AUTH frame) and how to fail (`abort`). Tokens are checked by the service
methods exactly as for gRPC.

Before that, the connection itself is authenticated: its first frame must be a small AUTH
frame, sent within AUTH_TIMEOUT, whose token the service knows (`valid_token`). Until then
nothing larger than MAX_AUTH_FRAME is read, so a peer without a token cannot make the server
buffer 64 MiB frames (docs/SECURITY.md, "The server").
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
from typing import Any, NoReturn

import grpc

from .. import config
from .._fast_lane import (
    AUTH,
    AUTH_TIMEOUT,
    CALL,
    CANCEL,
    ERROR,
    HEADER,
    IDLE_TIMEOUT,
    MAX_AUTH_FRAME,
    MAX_FRAME,
    OK,
    UNARY_METHODS,
    frame,
)

log = logging.getLogger("nano_modal.server")


class _Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Context:
    def __init__(self, token: str, peer: str) -> None:
        self._metadata = ((config.TOKEN_METADATA_KEY, token),)
        self._peer = peer

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise _Aborted(code, details)


class FastLaneServer:
    def __init__(self, service: Any) -> None:
        self.service = service  # the `Service`, or a follower's `Forwarder`: methods called by name
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> tuple[FastLaneServer, int]:
        # The reader's buffer limit: frames are read with readexactly, which is not bound by it.
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_AUTH_FRAME)
        return self, self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop listening and drop every connection (clients reconnect, through Hello)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = str(writer.get_extra_info("peername"))
        self._writers.add(writer)
        running: dict[int, asyncio.Task[None]] = {}
        try:
            token = await self._authenticate(reader, writer, peer)
            if not token:
                return
            loop = asyncio.get_running_loop()
            last_active = loop.time()  # the last frame read or call answered

            def answered(call_id: int) -> None:
                nonlocal last_active
                running.pop(call_id, None)
                last_active = loop.time()

            while True:
                # Idle: no call running and nothing sent for IDLE_TIMEOUT. A long poll in flight
                # is not idle; the clock starts again when it is answered (clients count from then).
                quiet_for = loop.time() - last_active
                wait = IDLE_TIMEOUT if running else max(0.0, IDLE_TIMEOUT - quiet_for)  # never a busy loop
                try:
                    # (asyncio.timeout, not wait_for: that wraps every read in a task of its own,
                    # two more turns of the loop per call on the warm path.)
                    async with asyncio.timeout(wait):
                        header = await reader.readexactly(HEADER.size)
                except TimeoutError:
                    if running or loop.time() - last_active < IDLE_TIMEOUT:
                        continue
                    return  # idle: the client reconnects when it needs to
                last_active = loop.time()
                length, call_id, kind = HEADER.unpack(header)
                if length > MAX_FRAME:
                    log.warning("fast lane: %s sent a %d-byte frame; closing", peer, length)
                    return
                body = await reader.readexactly(length)
                if kind == CALL:
                    task = asyncio.create_task(self._call(call_id, body, _Context(token, peer), writer))
                    running[call_id] = task
                    task.add_done_callback(lambda _, i=call_id: answered(i))  # type: ignore[misc]
                elif kind == CANCEL and call_id in running:
                    running[call_id].cancel()
        except TimeoutError:
            pass  # never authenticated in time
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            for task in list(running.values()):
                task.cancel()  # long polls of a client that left end here, as with gRPC
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> str:
        """The token of the connection's first frame, when small, in time and valid. Else "",
        after answering the peer's first call (if it sent one) with UNAUTHENTICATED when the
        token is known to be bad (not when the service cannot tell now: the caller falls back
        to gRPC then)."""
        async with asyncio.timeout(AUTH_TIMEOUT):
            length, _, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
            if kind != AUTH or length > MAX_AUTH_FRAME:
                log.warning("fast lane: %s did not start with a small AUTH frame; closing", peer)
                return ""
            token = (await reader.readexactly(length)).decode("utf-8", "replace")
            valid = await self._valid(token)
            if valid:
                return token
            if valid is None:
                return ""
            # E.g. a container of a worker declared dead, back from a partition.
            log.info("fast lane: refused a connection from %s: its token is no longer valid, or never was", peer)
            # Its first call is answered without reading the call's body.
            _, call_id, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
            if kind == CALL:
                refusal = bytes([grpc.StatusCode.UNAUTHENTICATED.value[0]]) + b"invalid or missing token"
                writer.write(frame(call_id, ERROR, refusal))
                await writer.drain()
            return ""

    async def _valid(self, token: str) -> bool | None:
        check = getattr(self.service, "valid_token", None)
        if check is None:
            return False  # a service that cannot say is not trusted with large frames
        answer = check(token)
        valid: bool | None = await answer if inspect.isawaitable(answer) else answer
        return valid

    async def _call(self, call_id: int, body: bytes, context: _Context, writer: asyncio.StreamWriter) -> None:
        name = body[1 : 1 + body[0]].decode("ascii", "replace")
        try:
            types = UNARY_METHODS.get(name)
            if types is None:
                raise _Aborted(grpc.StatusCode.UNIMPLEMENTED, f"no unary method {name!r}")
            request = types[0].FromString(body[1 + body[0] :])
            method: Any = getattr(self.service, name)
            response = await method(request, context)
            reply = frame(call_id, OK, response.SerializeToString())
        except _Aborted as exc:
            reply = frame(call_id, ERROR, bytes([exc.code.value[0]]) + exc.details.encode())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("fast lane: %s failed", name)
            reply = frame(
                call_id, ERROR, bytes([grpc.StatusCode.UNKNOWN.value[0]]) + f"{type(exc).__name__}: {exc}".encode()
            )
        if not writer.is_closing():
            writer.write(reply)
