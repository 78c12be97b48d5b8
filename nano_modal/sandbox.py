"""`Sandbox`: a container you start at runtime and run any commands in, as in Modal.

    app = nano_modal.App("sandboxes")
    with app.run():
        sb = nano_modal.Sandbox.create(app=app)
        p = sb.exec("python", "-c", "print('hello')", timeout=10)
        print(p.stdout.read())        # hello
        p.wait()
        sb.terminate()

A sandbox runs on a worker through the same runtime (bwrap, gvisor, process) and limits as
function containers, but holds no credential for the platform (Modal's
`restrict_modal_access`, always on). The server side is server/sandboxes.py; the process
in the container that starts commands is container/sandbox_agent.py. See docs/SANDBOXES.md.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from . import config
from ._definition import FunctionOptions
from ._gpu import normalize as normalize_gpu
from ._logs import LogsManager
from ._porting_options import env_secrets, note_ignored
from ._sandbox_files import FileIO, file_error
from ._tunnel import refuse_sandbox_ports
from ._utils.aio import twin
from .app import App
from .client import Client, client_of
from .cloud_bucket_mount import resolve_bucket_mounts
from .container_process import ContainerProcess
from .exception import (
    ExecutionError,
    InvalidError,
    NotFoundError,
    SandboxTerminatedError,
    SandboxTimeoutError,
)
from .image import Image
from .io_streams import POLL, StreamReader, StreamWriter
from .probe import Probe, wait_until_ready
from .proto import api_pb2
from .secret import resolve_secrets, validate_secrets
from .stream_type import StreamType
from .volume import resolve_mounts, validate_mounts

__all__ = ["ContainerProcess", "FileIO", "Sandbox", "StreamReader", "StreamWriter"]

MAX_TIMEOUT = 24 * 3600  # seconds: Modal's limit for a sandbox's lifetime
FILE_READ_CHUNK = 8 * 1024 * 1024  # bytes per read of a sandbox's file


class Sandbox:
    """A running container for arbitrary commands. Create one with `Sandbox.create`."""

    object_id: str
    stdout: StreamReader[str]  # of the entrypoint command
    stderr: StreamReader[str]
    stdin: StreamWriter

    def __init__(self, sandbox_id: str, info: api_pb2.SandboxInfo | None = None) -> None:
        self.object_id = sandbox_id
        self._info = info
        self._result: api_pb2.SandboxInfo | None = info if info is not None and info.done else None
        self.stdout: StreamReader[str] = StreamReader(sandbox_id, 1)
        self.stderr: StreamReader[str] = StreamReader(sandbox_id, 2)
        self.stdin = StreamWriter(sandbox_id)
        self._readiness_probe: Probe | None = None  # given to create(); wait_until_ready() runs it

    @property
    def client(self) -> Client:
        """The client that hydrated this handle; AttributeError before it is hydrated."""
        return client_of(self, True)

    def __repr__(self) -> str:
        return f"<nano_modal.Sandbox {self.object_id}>"

    # ------------------------------------------------------------------ creating and finding

    @twin
    async def create(
        *entrypoint_args: str,
        app: App | None = None,
        image: Any = None,
        timeout: float = config.DEFAULT_TIMEOUT,
        idle_timeout: float | None = None,
        workdir: str | None = None,
        secrets: Sequence[Any] = (),
        volumes: dict[str, Any] | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        block_network: bool = False,
        name: str | None = None,
        env: dict[str, str | None] | None = None,
        readiness_probe: Probe | None = None,
        gpu: str | list[str] | None = None,
        tags: dict[str, str] | None = None,
        verbose: bool = False,  # nano-modal logs every command the same way
        environment_name: str | None = None,  # sandboxes belong to their app, wherever it is
        experimental_options: dict[str, Any] | None = None,
        region: str | Sequence[str] | None = None,  # Modal's cloud only: ignored with a note
        cloud: str | None = None,
        encrypted_ports: Sequence[int] = (),  # refused when given: see refuse_sandbox_ports
        unencrypted_ports: Sequence[int] = (),
        h2_ports: Sequence[int] = (),
    ) -> Sandbox:
        """Start a sandbox in `app`: a running or deployed App (inside a function's container, by
        default that function's app, the only one whose sandboxes it may see). With
        `entrypoint_args` it runs that command and finishes when it exits; without, it stays up
        until `timeout` (seconds, at most 24 h) or `terminate()`. `idle_timeout` ends it after
        that long with no command running and no input or output. `image` is built and used
        as for a function (the sandbox runs in its root filesystem, on its Python).

            sb = Sandbox.create("python", "-c", "print(1)", app=app, timeout=60)
            sb.wait()
            print(sb.returncode, sb.stdout.read())
        """
        note_ignored("Sandbox.create", {"region": region, "cloud": cloud, "experimental_options": experimental_options})
        refuse_sandbox_ports(encrypted_ports, unencrypted_ports, h2_ports)
        del verbose, environment_name
        secrets = [*secrets, *env_secrets(env)]
        app_id = app.app_id if app is not None else None
        if app_id is None and not config.is_remote():  # in a function's container: the server knows its app
            raise InvalidError("Sandbox.create needs app=: an App that is running (`with app.run():`) or deployed")
        if not 0 < timeout <= MAX_TIMEOUT:
            raise InvalidError(f"timeout must be between 1 second and 24 hours ({MAX_TIMEOUT} s), got {timeout}")
        if idle_timeout is not None and idle_timeout <= 0:
            raise InvalidError(f"idle_timeout must be positive, got {idle_timeout}")
        if workdir is not None and not workdir.startswith("/"):
            raise InvalidError(f"workdir must be an absolute path, got {workdir!r}")
        if any(not isinstance(a, str) for a in entrypoint_args):
            raise InvalidError("entrypoint arguments must be strings")
        options = FunctionOptions(
            timeout=timeout,
            cpu=cpu,
            memory=memory,
            image=image,
            block_network=block_network,
            secrets=tuple(secrets),
            gpu=normalize_gpu(gpu),
        )
        options.validate("Sandbox.create")
        validate_secrets(secrets, "Sandbox.create")
        validate_mounts(volumes or {}, "Sandbox.create")
        definition = api_pb2.FunctionDefinition(name=name or "sandbox")
        options.apply(definition)  # the same fields (and, with images, the same image) as a function's
        definition.secret_ids.extend(await resolve_secrets(secrets))
        definition.volume_mounts.extend(await resolve_mounts(volumes or {}))
        definition.cloud_bucket_mounts.extend(await resolve_bucket_mounts(volumes or {}))
        client = await Client.get()
        if image is not None:  # built by the worker, as for a function; the agent runs on its Python
            definition.image.CopyFrom(await image.to_proto(client))
        request = api_pb2.SandboxCreateRequest(
            app_id=app_id or "",
            definition=definition,
            entrypoint_args=list(entrypoint_args),
            idle_timeout=idle_timeout or 0,
            workdir=workdir or "",
            name=name or "",
        )
        info = await client.stub.SandboxCreate(request, timeout=60)
        sandbox = Sandbox(info.sandbox_id, info)
        sandbox._readiness_probe = readiness_probe
        if tags:
            await sandbox.set_tags.aio(tags)
        return sandbox

    @twin
    async def from_id(sandbox_id: str) -> Sandbox:
        """The sandbox with this id (raises NotFoundError if the server does not know it)."""
        client = await Client.get()
        info = await client.stub.SandboxGet(api_pb2.SandboxGetRequest(sandbox_id=sandbox_id), timeout=30)
        return Sandbox(info.sandbox_id, info)

    @twin
    async def from_name(
        app_name: str, name: str, *, environment_name: str | None = None, include_terminated: bool = False
    ) -> Sandbox:
        """The running sandbox created with `name=` in the app called `app_name` (app names are
        the server's, across environments: `environment_name` is accepted for Modal compatibility).
        `include_terminated`: with none running, the latest one of that name that has ended."""
        del environment_name
        client = await Client.get()
        request = api_pb2.SandboxGetRequest(app_name=app_name, name=name)
        try:
            info = await client.stub.SandboxGet(request, timeout=30)
        except NotFoundError:
            if not include_terminated:
                raise
            listed = await client.stub.SandboxList(api_pb2.SandboxListRequest(include_finished=True), timeout=30)
            mine = (i for i in listed.sandboxes if i.app_name == app_name and i.name == name)
            ended = sorted(mine, key=lambda i: i.created_at)
            if not ended:
                raise
            info = ended[-1]
        return Sandbox(info.sandbox_id, info)

    @twin
    async def list(*, app_id: str | None = None, tags: dict[str, str] | None = None) -> AsyncIterator[Sandbox]:
        """The running sandbox of an app (or of all apps), optionally those with all of `tags`."""
        client = await Client.get()
        request = api_pb2.SandboxListRequest(app_id=app_id or "", tags=tags or {})
        response = await client.stub.SandboxList(request, timeout=30)
        for info in response.sandboxes:
            yield Sandbox(info.sandbox_id, info)

    @twin
    async def set_tags(self, tags: dict[str, str]) -> None:
        """Replace the sandbox's tags (string keys and values), which `Sandbox.list` filters by."""
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise InvalidError("tags must map strings to strings")
        client = await Client.get()
        await client.stub.SandboxTagsSet(api_pb2.SandboxTagsSetRequest(sandbox_id=self.object_id, tags=tags))

    @twin
    async def get_tags(self) -> dict[str, str]:
        client = await Client.get()
        info = await client.stub.SandboxGet(api_pb2.SandboxGetRequest(sandbox_id=self.object_id), timeout=30)
        return dict(info.tags)

    @property
    def logs(self) -> LogsManager:
        """What the entrypoint printed (`sb.logs.tail()`, `.fetch(since=)`, `.stream()`), kept in its
        app's logs after the sandbox exits; as in Modal, not what `exec()` commands print."""
        return LogsManager(self._app_and_id, keep=lambda line, sandbox_id: line.container_id == sandbox_id)

    async def _app_and_id(self) -> tuple[str, str]:
        client = await Client.get()
        info = await client.stub.SandboxGet(api_pb2.SandboxGetRequest(sandbox_id=self.object_id), timeout=30)
        return info.app_id, self.object_id

    # ------------------------------------------------------------------ lifecycle

    @property
    def returncode(self) -> int | None:
        """The exit code once `wait()`/`poll()` has seen the sandbox finish: its entrypoint's, 124
        after a timeout, 137 after `terminate()`; None while it runs."""
        return None if self._result is None else self._result.returncode

    async def _wait(self, timeout: float) -> api_pb2.SandboxInfo | None:
        if self._result is None:
            client = await Client.get()
            request = api_pb2.SandboxWaitRequest(sandbox_id=self.object_id, timeout=timeout)
            info = await client.stub.SandboxWait(request, timeout=timeout + 10)
            if info.done:
                self._result = info
        return self._result

    @twin
    async def wait(self, raise_on_termination: bool = True) -> None:
        """Block until the sandbox finishes. Raises SandboxTimeoutError if its timeout ended it, and
        SandboxTerminatedError if it was terminated (unless `raise_on_termination=False`)."""
        while (result := await self._wait(POLL)) is None:
            pass
        if result.result == "timeout":
            raise SandboxTimeoutError(f"sandbox {self.object_id} ran out of time")
        if result.result == "terminated" and raise_on_termination:
            raise SandboxTerminatedError(f"sandbox {self.object_id} was terminated")

    @twin
    async def poll(self) -> int | None:
        """The return code if the sandbox has finished, else None (never blocks)."""
        await self._wait(0)
        return self.returncode

    @twin
    async def wait_until_ready(self, *, timeout: float = 300) -> None:
        """Wait until the `readiness_probe` given to `create()` passes (TimeoutError after `timeout`)."""
        await wait_until_ready(self, self._readiness_probe, timeout)

    @twin
    async def terminate(self, *, wait: bool = False) -> int | None:
        """Stop the sandbox and everything running in it (returncode 137); with `wait=True`,
        return once it has stopped, with its return code."""
        client = await Client.get()
        await client.stub.SandboxTerminate(api_pb2.SandboxGetRequest(sandbox_id=self.object_id), timeout=30)
        if not wait:
            return None
        await self.wait.aio(raise_on_termination=False)
        return self.returncode

    @twin
    async def hydrate(self) -> Sandbox:
        """Fetch the sandbox's state from the server now (its return code if it has finished)."""
        await self._wait(0)
        return self

    # ------------------------------------------------------------------ running commands

    async def _start(self, request: api_pb2.ContainerExecRequest) -> str:
        client = await Client.get()
        try:
            response = await client.stub.ContainerExec(request, timeout=30)
        except ExecutionError as exc:  # the server's FAILED_PRECONDITION: it has finished
            raise SandboxTerminatedError(str(exc)) from None
        exec_id: str = response.exec_id
        return exec_id

    @twin
    async def exec(
        self,
        *cmd: str,
        workdir: str | None = None,
        secrets: Sequence[Any] = (),
        timeout: float | None = None,
        pty: bool = False,
        text: bool = True,
        env: dict[str, str] | None = None,
        stdout: StreamType = StreamType.PIPE,
        stderr: StreamType = StreamType.PIPE,
    ) -> ContainerProcess[Any]:
        """Start `cmd` in the sandbox; returns at once with a ContainerProcess to read, write and wait on.
        `secrets` and `env` add environment variables; `timeout` kills it (returncode 124); `pty`
        gives it a terminal (stderr then comes on stdout); `text=False` reads bytes. `stdout`/`stderr`:
        StreamType.PIPE to read them (default), DEVNULL to drop them, STDOUT to print them here.

            p = sb.exec("bash", "-c", "echo hi; exit 3")
            assert p.stdout.read() == "hi\\n" and p.wait() == 3
        """
        if not cmd or any(not isinstance(c, str) for c in cmd):
            raise InvalidError("exec needs a command: one or more strings")
        if timeout is not None and timeout <= 0:
            raise InvalidError(f"timeout must be positive, got {timeout}")
        if workdir is not None and not workdir.startswith("/"):
            raise InvalidError(f"workdir must be an absolute path, got {workdir!r}")
        validate_secrets(secrets, "Sandbox.exec")
        request = api_pb2.ContainerExecRequest(
            container_id=self.object_id,
            argv=list(cmd),
            workdir=workdir or "",
            secret_ids=await resolve_secrets(secrets),
            timeout=timeout or 0,
            pty=pty,
            env=env or {},
        )
        return ContainerProcess(await self._start(request), text, stdout, stderr)

    # ------------------------------------------------------------------ files

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
    async def snapshot_filesystem(self, timeout: float = 55) -> Image:
        """The sandbox's filesystem as it is now, as an image that new sandboxes and functions
        can start from (`image=`). Needs a sandbox created with `image=` on an isolating runtime;
        the image lives in the cache of the worker that ran the sandbox.

        ```python
        sb.exec("sh", "-c", "pip install six").wait()
        image = sb.snapshot_filesystem()
        sb2 = nano_modal.Sandbox.create(app=app, image=image)
        ```
        """
        request = api_pb2.ContainerExecRequest(container_id=self.object_id, builtin="snapshot", timeout=timeout)
        process: ContainerProcess[bytes] = ContainerProcess(await self._start(request), text=False)
        out = await process.stdout._read()
        err = await process.stderr._read()
        if await process._wait_exit() != 0:
            raise ExecutionError(f"snapshot of sandbox {self.object_id} failed: {err.decode(errors='replace')}")
        return Image.from_id(out.decode().strip())

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
