"""`Sandbox.filesystem`: Modal's file API for a running sandbox (read, write, list, stat, copy).

Each call is a built-in of the sandbox's agent (container/sandbox_agent.py), as `sb.open` and
`sb.ls` are: no process is started in the sandbox. Errors are Modal's
SandboxFilesystem*Error, by what the agent met. Not built: `watch()` (change events).
"""

from __future__ import annotations

import errno
import json
import os
from typing import TYPE_CHECKING, Any

from ._utils.aio import twin
from .exception import (
    InvalidError,
    SandboxFilesystemDirectoryNotEmptyError,
    SandboxFilesystemError,
    SandboxFilesystemIsADirectoryError,
    SandboxFilesystemNotADirectoryError,
    SandboxFilesystemNotFoundError,
    SandboxFilesystemPathAlreadyExistsError,
    SandboxFilesystemPermissionError,
)
from .types import FileInfo, FileType

if TYPE_CHECKING:
    from ._sandbox_file_ops import SandboxFileOps

_BY_OS_ERROR: dict[type[OSError], type[SandboxFilesystemError]] = {
    FileNotFoundError: SandboxFilesystemNotFoundError,
    FileExistsError: SandboxFilesystemPathAlreadyExistsError,
    IsADirectoryError: SandboxFilesystemIsADirectoryError,
    NotADirectoryError: SandboxFilesystemNotADirectoryError,
    PermissionError: SandboxFilesystemPermissionError,
}


def _absolute(path: str, operation: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidError(f"{operation} needs an absolute path in the sandbox, got {path!r}")
    return path


def _translated(exc: OSError, path: str) -> SandboxFilesystemError:
    if exc.errno == errno.ENOTEMPTY:
        return SandboxFilesystemDirectoryNotEmptyError(f"{path}: directory not empty (use recursive=True)")
    kind = next((mine for theirs, mine in _BY_OS_ERROR.items() if isinstance(exc, theirs)), SandboxFilesystemError)
    return kind(f"{path}: {exc.strerror or exc}")


def _info(entry: dict[str, Any]) -> FileInfo:
    return FileInfo(
        name=entry["name"],
        path=entry["path"],
        type=FileType(entry["type"]),
        size=entry["size"],
        mode=entry["mode"],
        permissions=entry["permissions"],
        owner=entry["owner"],
        group=entry["group"],
        modified_time=entry["mtime_ns"] / 1e9,
        symlink_target=entry["symlink_target"],
    )


class SandboxFilesystem:
    """Files of a running sandbox: `sb.filesystem.write_text("hi", "/tmp/a.txt")`."""

    def __init__(self, sandbox: SandboxFileOps) -> None:
        self._sandbox = sandbox

    async def _run(self, op: str, path: str, *args: str, stdin: bytes | None = None) -> bytes:
        try:
            return await self._sandbox._builtin(op, path, *args, stdin=stdin)
        except OSError as exc:
            raise _translated(exc, path) from None

    async def _read(self, path: str) -> bytes:
        try:
            return await self._sandbox._read_file(path)
        except OSError as exc:
            raise _translated(exc, path) from None

    @twin
    async def read_bytes(self, remote_path: str) -> bytes:
        return await self._read(_absolute(remote_path, "read_bytes"))

    @twin
    async def read_text(self, remote_path: str) -> str:
        return (await self._read(_absolute(remote_path, "read_text"))).decode()

    @twin
    async def write_bytes(self, data: bytes | bytearray | memoryview, remote_path: str) -> None:
        """Write `data` to the file (created, or truncated), making its missing parent directories."""
        path = _absolute(remote_path, "write_bytes")
        parent = os.path.dirname(path)
        if parent != "/":
            await self._run("mkdir", parent, "1")
        await self._run("write", path, "w", stdin=bytes(data))

    @twin
    async def write_text(self, data: str, remote_path: str) -> None:
        await self.write_bytes.aio(data.encode(), remote_path)

    @twin
    async def copy_from_local(self, local_path: str | os.PathLike[str], remote_path: str) -> None:
        with open(local_path, "rb") as f:
            data = f.read()
        await self.write_bytes.aio(data, remote_path)

    @twin
    async def copy_to_local(self, remote_path: str, local_path: str | os.PathLike[str]) -> None:
        data = await self._read(_absolute(remote_path, "copy_to_local"))
        with open(local_path, "wb") as f:
            f.write(data)

    @twin
    async def list_files(self, remote_path: str) -> list[FileInfo]:
        """The entries of a directory (not recursive), by name."""
        entries = json.loads(await self._run("list", _absolute(remote_path, "list_files")))
        return [_info(entry) for entry in entries]

    @twin
    async def stat(self, remote_path: str) -> FileInfo:
        """What the path is (a symlink itself, not its target)."""
        return _info(json.loads(await self._run("stat", _absolute(remote_path, "stat"))))

    @twin
    async def make_directory(self, remote_path: str, *, create_parents: bool = True) -> None:
        path = _absolute(remote_path, "make_directory")
        if create_parents:  # (makedirs would accept a directory that is there already: Modal does not)
            try:
                await self.stat.aio(path)
            except SandboxFilesystemNotFoundError:
                await self._run("mkdir", path, "1")
                return
            raise SandboxFilesystemPathAlreadyExistsError(f"{path}: already exists")
        await self._run("mkdir", path, "0")

    @twin
    async def remove(self, remote_path: str, *, recursive: bool = False) -> None:
        """Remove a file, an empty directory, or (`recursive=True`) a directory and its contents."""
        await self._run("rm", _absolute(remote_path, "remove"), "1" if recursive else "empty")
