"""Files in a sandbox: `Sandbox.open()`'s FileIO, and the OSError a failed file operation raises."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._utils.aio import twin
from .exception import Error, ExecutionError

if TYPE_CHECKING:
    from ._sandbox_file_ops import SandboxFileOps


class FileIO:
    """An open file in a sandbox (from `Sandbox.open`): reads come from its contents at open
    time; writes are sent on `flush()` / `close()`."""

    def __init__(self, sandbox: SandboxFileOps, path: str, mode: str, data: bytes) -> None:
        self._sandbox, self._path, self._mode = sandbox, path, mode
        self._binary = "b" in mode
        self._data = data
        self._pos = len(data) if mode[0] == "a" else 0
        self._pending = bytearray()
        self.closed = False

    def _check(self, reading: bool) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if reading and self._mode[0] != "r" and "+" not in self._mode:
            raise OSError(f"file {self._path} is not open for reading (mode {self._mode!r})")
        if not reading and self._mode[0] == "r" and "+" not in self._mode:
            raise OSError(f"file {self._path} is not open for writing (mode {self._mode!r})")

    def read(self, n: int = -1) -> Any:
        self._check(reading=True)
        end = len(self._data) if n < 0 else self._pos + n
        chunk, self._pos = self._data[self._pos : end], min(end, len(self._data))
        return chunk if self._binary else chunk.decode()

    def readline(self) -> Any:
        self._check(reading=True)
        end = self._data.find(b"\n", self._pos)
        return self.read(-1 if end < 0 else end + 1 - self._pos)

    def write(self, data: bytes | str) -> int:
        self._check(reading=False)
        if isinstance(data, str) == self._binary:
            raise TypeError(f"write() argument must be {'bytes' if self._binary else 'str'}")
        raw = data.encode() if isinstance(data, str) else data
        self._pending += raw
        return len(data)

    @twin
    async def flush(self) -> None:
        await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            pending, self._pending = bytes(self._pending), bytearray()
            await self._sandbox._builtin("write", self._path, "a", stdin=pending)

    @twin
    async def close(self) -> None:
        if not self.closed:
            await self._flush()
            self.closed = True

    def __enter__(self) -> FileIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> FileIO:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close.aio()


def file_error(stderr: bytes, path: str) -> Error | OSError:
    try:
        error = json.loads(stderr)
    except ValueError:
        return ExecutionError(f"file operation on {path} failed: {stderr.decode(errors='replace')}")
    kinds: dict[str, type[OSError]] = {
        "FileNotFoundError": FileNotFoundError,
        "FileExistsError": FileExistsError,
        "IsADirectoryError": IsADirectoryError,
        "NotADirectoryError": NotADirectoryError,
        "PermissionError": PermissionError,
    }
    kind = kinds.get(error.get("type", ""), OSError)
    if error.get("errno") is not None:
        return kind(error["errno"], error["message"].split("] ", 1)[-1].split(":")[0], path)
    return kind(error.get("message", "failed"))
