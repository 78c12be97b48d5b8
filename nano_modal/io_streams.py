"""A sandbox process's streams: `StreamReader` (stdout, stderr) and `StreamWriter` (stdin), as
Modal's `modal.io_streams`."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from ._utils.aio import run_blocking, run_in_background, twin
from .client import Client
from .proto import api_pb2
from .stream_type import StreamType

__all__ = ["StreamReader", "StreamWriter"]

POLL = 50.0  # seconds one long-poll (output, wait) may be held by the server
STDIN_CHUNK = 1024 * 1024  # bytes per ContainerExecPutInput (a big write or file goes in pieces)
T = TypeVar("T", str, bytes)


class StreamReader(Generic[T]):
    """A process's stdout or stderr: `read()` all of it, or iterate over lines as they come.

    Bytes are fetched by offset into a buffer of this reader, and handed out from it, so
    that stopping an iteration and reading again (or iterating again) loses nothing.
    """

    def __init__(self, exec_id: str, fd: int, text: bool = True, stream_type: StreamType = StreamType.PIPE) -> None:
        self._exec_id = exec_id
        self._fd = fd
        self._text = text
        self._offset = 0  # of the next byte to fetch from the server
        self._pending = b""  # fetched, not handed out yet
        self._eof = stream_type is not StreamType.PIPE  # DEVNULL, STDOUT: nothing is left for the caller

    async def _fetch(self) -> None:
        """One long-poll: more bytes into the buffer, or the end of the stream."""
        client = await Client.get()
        request = api_pb2.ContainerExecGetOutputRequest(
            exec_id=self._exec_id, fd=self._fd, offset=self._offset, timeout=POLL
        )
        response = await client.stub.ContainerExecGetOutput(request, timeout=POLL + 10)
        self._offset = response.next_offset
        self._pending += response.data
        self._eof = response.eof

    def _out(self, data: bytes) -> Any:
        return data.decode(errors="replace") if self._text else data

    async def _read(self) -> T:
        while not self._eof:
            await self._fetch()
        data, self._pending = self._pending, b""
        out: T = self._out(data)
        return out

    @twin
    async def read(self) -> T:
        """Everything the stream has left, once the process has closed it."""
        return await self._read()

    async def _next_line(self) -> T | None:
        while b"\n" not in self._pending and not self._eof:
            await self._fetch()
        if not self._pending:
            return None
        line, newline, self._pending = self._pending.partition(b"\n")
        out: T = self._out(line + newline)
        return out

    async def _next_chunk(self) -> bytes | None:
        while not self._pending and not self._eof:
            await self._fetch()
        chunk, self._pending = self._pending, b""
        return chunk or None

    def _raw_chunks(self) -> Iterator[bytes]:
        """Blocking: the bytes as they arrive, in whatever pieces (for terminals: no line buffering)."""
        while (chunk := run_blocking(self._next_chunk())) is not None:
            yield chunk

    def __iter__(self) -> Iterator[T]:
        while (line := run_blocking(self._next_line())) is not None:
            yield line

    async def __aiter__(self) -> AsyncIterator[T]:
        while (line := await run_in_background(self._next_line())) is not None:
            yield line


class StreamWriter:
    """A process's stdin: `write()` buffers, `drain()` sends, `write_eof()` closes (on the next drain)."""

    def __init__(self, exec_id: str) -> None:
        self._exec_id = exec_id
        self._buffer = bytearray()
        self._eof = False

    def write(self, data: bytes | bytearray | str) -> None:
        if self._eof:
            raise ValueError("stdin is closed (write_eof was called)")
        self._buffer += data.encode() if isinstance(data, str) else data

    def write_eof(self) -> None:
        self._eof = True

    @twin
    async def drain(self) -> None:
        """Send what was written (and the end of input, after `write_eof`)."""
        await self._drain()

    async def _resize(self, rows: int, cols: int) -> None:
        """Resize the process's pty (`exec(pty=True)`), as a terminal window change does."""
        client = await Client.get()
        request = api_pb2.ContainerExecPutInputRequest(exec_id=self._exec_id, rows=rows, cols=cols)
        await client.stub.ContainerExecPutInput(request, timeout=30)

    async def _drain(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        client = await Client.get()
        pieces = [data[i : i + STDIN_CHUNK] for i in range(0, len(data), STDIN_CHUNK)] or [b""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            request = api_pb2.ContainerExecPutInputRequest(exec_id=self._exec_id, data=piece, eof=self._eof and last)
            await client.stub.ContainerExecPutInput(request, timeout=30)


async def print_stream(exec_id: str, fd: int) -> None:
    """`StreamType.STDOUT`: the stream printed to this process's stdout as it comes."""
    reader: StreamReader[bytes] = StreamReader(exec_id, fd, text=False)
    while (chunk := await reader._next_chunk()) is not None:
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
