"""Bounds on what the HTTP port takes from a client and from a container (docs/SECURITY.md).

From clients: a request head must arrive whole within HEADER_TIMEOUT (uvicorn's h11 caps its
size at 16 KiB but lets it trickle in forever); a body is read only once the endpoint is
known and the caller authorized, at most MAX_BODY bytes (413 past it), with BODY_IDLE_TIMEOUT
between chunks (408). From containers: response status and headers are checked before they
reach the HTTP library, which would turn `bytes(12345678901)` into a 12 GB allocation.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import h11
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from uvicorn.protocols.http.h11_impl import H11Protocol

ENV_MAX_BODY = "NANO_MODAL_WEB_MAX_BODY"
ENV_HEADER_TIMEOUT = "NANO_MODAL_WEB_HEADER_TIMEOUT"
ENV_BODY_IDLE_TIMEOUT = "NANO_MODAL_WEB_BODY_IDLE_TIMEOUT"
# A request body becomes one pickled input held in memory: bound it like a gRPC message.
MAX_BODY = int(os.environ.get(ENV_MAX_BODY) or 64 * 1024 * 1024)
HEADER_TIMEOUT = float(os.environ.get(ENV_HEADER_TIMEOUT) or 30.0)  # seconds, as web servers commonly allow
BODY_IDLE_TIMEOUT = float(os.environ.get(ENV_BODY_IDLE_TIMEOUT) or 60.0)  # seconds between body chunks
# Response heads from containers: far above what real apps send, far below harm.
MAX_RESPONSE_HEADERS = 200
MAX_RESPONSE_HEADER_BYTES = 64 * 1024  # all names and values together


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head: a peer that opens a
    connection and sends nothing, or a header a byte at a time, is disconnected."""

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE and self._head_deadline is not None:
            self._head_deadline.cancel()  # the head is in: the body has its own timeout
            self._head_deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_head()  # the next request on this keep-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(HEADER_TIMEOUT, self._head_overdue)

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class BodyTooLarge(Exception):
    pass


async def read_body(chunks: AsyncIterator[bytes], declared_length: str | None) -> bytes:
    """The request body, refused (BodyTooLarge) once past MAX_BODY, TimeoutError when the
    client stalls longer than BODY_IDLE_TIMEOUT between chunks."""
    if declared_length is not None and declared_length.strip().isdigit() and int(declared_length) > MAX_BODY:
        raise BodyTooLarge  # said so up front: not a byte of it is read
    body = bytearray()
    stream = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(BODY_IDLE_TIMEOUT):
                chunk = await anext(stream)
        except StopAsyncIteration:
            return bytes(body)
        body += chunk
        if len(body) > MAX_BODY:
            raise BodyTooLarge


async def request_body(request: Request) -> bytes | Response:
    """A request's body, or the response that refuses it (413 past MAX_BODY, 408 stalled)."""
    try:
        return await read_body(request.stream(), request.headers.get("content-length"))
    except BodyTooLarge:
        return PlainTextResponse(f"413 Content Too Large: the limit is {MAX_BODY} bytes\n", status_code=413)
    except TimeoutError:
        return PlainTextResponse("408 Request Timeout: the body stalled\n", status_code=408)


class BadResponseHead(Exception):
    """A container's response start that may not go out: the gateway answers 502."""


def response_head(start: Any) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The status and headers of a container's `http.response.start`, checked: an int status
    in 100..599, at most MAX_RESPONSE_HEADERS str/bytes pairs of MAX_RESPONSE_HEADER_BYTES
    in all, without line breaks (which would inject headers)."""
    if not isinstance(start, dict):
        raise BadResponseHead("the response start is not a mapping")
    status = start.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise BadResponseHead(f"the status is not an HTTP status code: {str(status)[:40]!r}")
    return status, checked_headers(start.get("headers") or [])


def checked_headers(raw: Any) -> list[tuple[bytes, bytes]]:
    if not isinstance(raw, list | tuple) or len(raw) > MAX_RESPONSE_HEADERS:
        raise BadResponseHead(f"headers must be a list of at most {MAX_RESPONSE_HEADERS} pairs")
    headers: list[tuple[bytes, bytes]] = []
    total = 0
    for pair in raw:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise BadResponseHead("a header is not a (name, value) pair")
        name, value = (_header_bytes(part) for part in pair)
        total += len(name) + len(value)
        if total > MAX_RESPONSE_HEADER_BYTES:
            raise BadResponseHead(f"the headers exceed {MAX_RESPONSE_HEADER_BYTES} bytes")
        if not name or b"\r" in name + value or b"\n" in name + value or b":" in name:
            raise BadResponseHead(f"malformed header {name[:40]!r}")
        headers.append((name, value))
    return headers


def _header_bytes(part: Any) -> bytes:
    if isinstance(part, str):
        if len(part) > MAX_RESPONSE_HEADER_BYTES:
            raise BadResponseHead(f"the headers exceed {MAX_RESPONSE_HEADER_BYTES} bytes")
        try:
            return part.encode("latin-1")
        except UnicodeEncodeError:
            raise BadResponseHead("a header is not latin-1 text") from None
    if isinstance(part, bytes | bytearray):
        return bytes(part)
    raise BadResponseHead(f"a header name or value is a {type(part).__name__}, not str or bytes")
