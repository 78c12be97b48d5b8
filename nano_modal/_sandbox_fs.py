"""`Sandbox.filesystem`: Modal's file API for a running sandbox (read, write, list, stat, copy).

Each call is a built-in of the sandbox's agent (container/sandbox_agent.py), as `sb.open` and
`sb.ls` are: no process is started in the sandbox. Errors are Modal's
SandboxFilesystem*Error, by what the agent met. `watch()` is a built-in too, one that streams:
the agent's inotify watch (container/sandbox_watch.py) sends each change as a JSON line.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ._sandbox_files import file_error
from ._utils.aio import twin
from .container_process import ContainerProcess
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
from .proto import api_pb2
from .types import FileInfo, FileType, FileWatchEvent, FileWatchEventType

WATCH_BUILTIN = "watch"  # the agent's (container/sandbox_agent.py's WATCH_BUILTIN)

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

    @twin
    async def watch(
        self,
        remote_path: str,
        *,
        filter: list[FileWatchEventType] | None = None,
        recursive: bool = False,
        timeout: int | None = None,
    ) -> AsyncIterator[FileWatchEvent]:
        """Changes under a path of the sandbox as they happen: of a file, of the entries of a
        directory, or (`recursive=True`) of its whole tree; of the kinds in `filter` (all by
        default; a rename is a Modify). Ends after `timeout` seconds (None: when the loop stops
        or the sandbox ends).

        ```python
        for event in sb.filesystem.watch("/tmp/out", filter=[FileWatchEventType.Create], timeout=60):
            if any(p.endswith(".done") for p in event.paths):
                break
        ```
        """
        path = _absolute(remote_path, "watch")
        if timeout is not None and timeout <= 0:
            raise InvalidError(f"watch timeout must be positive seconds or None, got {timeout!r}")
        kinds = ",".join(FileWatchEventType(kind).value for kind in filter) if filter is not None else ""
        if filter is not None and not kinds:
            return  # no kind of event wanted: nothing to wait for
        argv = [path, "1" if recursive else "0", kinds, str(timeout) if timeout is not None else ""]
        request = api_pb2.ContainerExecRequest(container_id=self._sandbox.object_id, builtin=WATCH_BUILTIN, argv=argv)
        process: ContainerProcess[bytes] = ContainerProcess(await self._sandbox._start(request), text=False)
        try:
            while (line := await process.stdout._next_line()) is not None:
                event = json.loads(line)  # the agent's own JSON: one event a line
                yield FileWatchEvent(paths=event["paths"], type=FileWatchEventType(event["event_type"]))
        finally:  # the loop stopped early: the end of its stdin ends the agent's watch
            process.stdin.write_eof()
            await process.stdin._drain()
        err = await process.stderr._read()
        # Ended with nothing said: its sandbox ended, which ends the watch as its timeout does.
        if await process._wait_exit() != 0 and err:
            error = file_error(err, path)
            raise _translated(error, path) if isinstance(error, OSError) else error
