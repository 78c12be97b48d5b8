"""The server's end of the fast lane (framing in nano_modal/_fast_lane.py).

Each call goes to the same `Service` method gRPC would call, with a context that answers
the two questions the service asks of one: who is calling (`invocation_metadata`, from the
connection's AUTH frame) and how to fail (`abort`). Tokens are checked by the service
methods exactly as for gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, NoReturn

import grpc

from .. import config
from .._fast_lane import AUTH, CALL, CANCEL, ERROR, HEADER, MAX_FRAME, OK, UNARY_METHODS, frame

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
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_FRAME)
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
        token = ""
        running: dict[int, asyncio.Task[None]] = {}
        try:
            while True:
                length, call_id, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
                if length > MAX_FRAME:
                    log.warning("fast lane: %s sent a %d-byte frame; closing", peer, length)
                    return
                body = await reader.readexactly(length)
                if kind == AUTH:
                    token = body.decode("utf-8", "replace")
                elif kind == CALL:
                    task = asyncio.create_task(self._call(call_id, body, _Context(token, peer), writer))
                    running[call_id] = task
                    task.add_done_callback(lambda _, i=call_id: running.pop(i, None))  # type: ignore[misc]
                elif kind == CANCEL and call_id in running:
                    running[call_id].cancel()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            for task in list(running.values()):
                task.cancel()  # long polls of a client that left end here, as with gRPC
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

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
