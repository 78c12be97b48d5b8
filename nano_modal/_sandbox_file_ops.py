"""A sandbox's files (a base class of Sandbox): `open`, `ls`, `mkdir`, `rm`, `filesystem`, and
`snapshot_filesystem`. Each is a built-in of the sandbox's agent, run as an exec (no process
is started in the sandbox), or, for snapshots, the worker's own (worker/sandbox_relay.py).
"""

from __future__ import annotations

import base64
import builtins
import json

from ._sandbox_files import FileIO, file_error
from ._sandbox_fs import SandboxFilesystem
from ._utils.aio import twin
from .client import Client
from .container_process import ContainerProcess
from .exception import ExecutionError, InvalidError
from .image import Image
from .proto import api_pb2

FILE_READ_CHUNK = 8 * 1024 * 1024  # bytes per read of a sandbox's file
SNAPSHOT_TTL = 30 * 24 * 3600  # Modal's default retention of a snapshot image (accepted; not enforced here)


def _check_ttl(ttl: int | None) -> None:
    if ttl is not None and ttl <= 0:
        raise InvalidError(f"ttl must be positive seconds or None, got {ttl!r}")


def _check_absolute(path: str, method: str) -> None:
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidError(f"Sandbox.{method} needs an absolute path, got {path!r}")


class SandboxFileOps:
    object_id: str

    async def _start(self, request: api_pb2.ContainerExecRequest) -> str:  # Sandbox's: starts an exec
        raise NotImplementedError

    async def _builtin(self, op: str, *args: str, stdin: bytes | None = None) -> bytes:
        """Run a file operation in the sandbox's agent; raise the OSError it met, if any."""
        request = api_pb2.ContainerExecRequest(container_id=self.object_id, builtin=op, argv=list(args))
        process: ContainerProcess[bytes] = ContainerProcess(await self._start(request), text=False)
        if stdin is not None:
            process.stdin.write(stdin)
            process.stdin.write_eof()
            await process.stdin._drain()
        out = await process.stdout._read()
        err = await process.stderr._read()
        if await process._wait_exit() != 0:
            raise file_error(err, args[0] if args else "")
        result: bytes = out
        return result

    async def _read_file(self, path: str) -> bytes:
        """In pieces: the server keeps only so much of a command's output unread."""
        pieces: builtins.list[bytes] = []
        while True:
            piece = await self._builtin("read", path, str(sum(map(len, pieces))), str(FILE_READ_CHUNK))
            pieces.append(piece)
            if len(piece) < FILE_READ_CHUNK:
                return b"".join(pieces)

    @twin
    async def open(self, path: str, mode: str = "r") -> FileIO:
        """A file in the sandbox: modes r, w, a, x with optional b (binary) and +.

        with sb.open("/tmp/notes.txt", "w") as f:
            f.write("hello")
        assert sb.open("/tmp/notes.txt").read() == "hello"
        """
        if not mode or mode[0] not in "rwax" or any(c not in "rwaxb+" for c in mode):
            raise InvalidError(f"invalid mode {mode!r}: use r, w, a or x, with optional b and +")
        data = b""
        if mode[0] in "ra" or "+" in mode:
            try:
                data = await self._read_file(path)
            except FileNotFoundError:
                if mode[0] == "r":
                    raise
        if mode[0] in "wx":
            await self._builtin("write", path, mode[0], stdin=b"")  # create/truncate (x: fail if it exists)
            data = b""
        return FileIO(self, path, mode, data)

    @twin
    async def snapshot_filesystem(self, timeout: float = 55, *, ttl: int | None = SNAPSHOT_TTL) -> Image:
        """The sandbox's filesystem as it is now, as an image that new sandboxes and functions
        can start from (`image=`). Needs a sandbox created with `image=` on an isolating runtime;
        the image lives in the cache of the worker that ran the sandbox, which keeps it whatever
        `ttl` says (Modal's retention, seconds; there is no expiry here).

        ```python
        sb.exec("sh", "-c", "pip install six").wait()
        image = sb.snapshot_filesystem()
        sb2 = nano_modal.Sandbox.create(app=app, image=image)
        ```
        """
        _check_ttl(ttl)
        return Image.from_id(await self._worker_op("snapshot", "snapshot", timeout=timeout))

    async def _worker_op(self, builtin: str, what: str, *argv: str, timeout: float = 0) -> str:
        """A builtin the sandbox's worker runs (worker/sandbox_relay.py): its answer, or its one-line error."""
        request = api_pb2.ContainerExecRequest(container_id=self.object_id, builtin=builtin, argv=argv, timeout=timeout)
        process: ContainerProcess[bytes] = ContainerProcess(await self._start(request), text=False)
        out = await process.stdout._read()
        err = await process.stderr._read()
        if await process._wait_exit() != 0:
            raise ExecutionError(f"{what} of sandbox {self.object_id} failed: {err.decode(errors='replace')}")
        return out.decode().strip()

    @twin
    async def snapshot_directory(self, path: str, *, timeout: int = 55, ttl: int | None = SNAPSHOT_TTL) -> Image:
        """One directory of the running sandbox (as it sees it) as an image of its contents alone,
        to mount into a sandbox with `mount_image`. Needs a sandbox on a bwrap worker; like
        snapshot_filesystem's, the image is kept on that worker whatever `ttl` says.

        ```python
        project = sb.snapshot_directory("/project")
        sb2.mount_image("/project", project)
        ```
        """
        _check_ttl(ttl)
        _check_absolute(path, "snapshot_directory")
        image_id = await self._worker_op("snapshot_directory", f"snapshot_directory {path}", path, timeout=timeout)
        return Image.from_id(image_id)

    @twin
    async def mount_image(self, path: str, image: Image) -> None:
        """Show `image`'s files at directory `path` (made if missing; not /) of the running
        sandbox, over whatever was there, until `unmount_image(path)`. The sandbox may write
        there; its writes go with the mount. Any image: built on the sandbox's worker if needed."""
        if not isinstance(image, Image):
            raise TypeError(f"Sandbox.mount_image(image=...) expects an Image, got {image!r}")
        _check_absolute(path, "mount_image")
        if any(step.kind == "add_local" and not dict(step.options).get("copy") for step in image.steps):
            raise InvalidError("Sandbox.mount_image takes images whose add_local_* steps have copy=True")
        client = await Client.get()
        spec = base64.b64encode((await image.to_proto(client)).SerializeToString()).decode()
        await self._worker_op("mount_image", f"mount_image at {path}", path, spec)

    @twin
    async def unmount_image(self, path: str) -> None:
        """Remove the image mounted at `path` (mount_image's path, exactly): what was there shows again."""
        _check_absolute(path, "unmount_image")
        await self._worker_op("unmount_image", f"unmount_image at {path}", path)

    @twin
    async def reload_volumes(self, *, timeout: int = 55) -> None:
        """Bring the sandbox's volumes up to their latest committed versions (what other
        containers committed since it started): its worker syncs them, as at start."""
        request = api_pb2.ContainerExecRequest(container_id=self.object_id, builtin="reload_volumes", timeout=timeout)
        process: ContainerProcess[bytes] = ContainerProcess(await self._start(request), text=False)
        err = await process.stderr._read()
        if await process._wait_exit() != 0:
            raise ExecutionError(f"reloading the volumes of {self.object_id} failed: {err.decode(errors='replace')}")

    @property
    def filesystem(self) -> SandboxFilesystem:
        """Modal's file API: `read_text`, `write_bytes`, `list_files`, `stat`, `copy_to_local`, ..."""
        return SandboxFilesystem(self)

    @twin
    async def ls(self, path: str) -> builtins.list[str]:
        """The names in a directory of the sandbox."""
        names: builtins.list[str] = json.loads(await self._builtin("ls", path))
        return names

    @twin
    async def mkdir(self, path: str, parents: bool = False) -> None:
        """Create a directory (and its missing parents with `parents=True`)."""
        await self._builtin("mkdir", path, "1" if parents else "0")

    @twin
    async def rm(self, path: str, recursive: bool = False) -> None:
        """Remove a file, or a directory and its contents with `recursive=True`."""
        await self._builtin("rm", path, "1" if recursive else "0")
