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

import datetime
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from . import config
from ._definition import FunctionOptions
from ._gpu import normalize as normalize_gpu
from ._logs import LogsManager
from ._porting_options import env_secrets, note_ignored
from ._sandbox_file_ops import SandboxFileOps
from ._sandbox_files import FileIO
from ._sandbox_network import inbound_networks, outbound_networks, refuse_unenforced
from ._tunnel import Tunnel, gateway_tunnel, refuse_sandbox_ports
from ._utils.aio import twin
from .app import App
from .client import Client, client_of
from .cloud_bucket_mount import resolve_bucket_mounts
from .container_process import ContainerProcess
from .exception import (
    ClientClosed,
    ExecutionError,
    InvalidError,
    NotFoundError,
    SandboxTerminatedError,
    SandboxTimeoutError,
)
from .io_streams import POLL, StreamReader, StreamWriter
from .probe import Probe, wait_until_ready
from .proto import api_pb2
from .secret import resolve_secrets, validate_secrets
from .stream_type import StreamType
from .types import SandboxConnectCredentials, SandboxStats
from .volume import resolve_mounts, validate_mounts

__all__ = ["ContainerProcess", "FileIO", "Sandbox", "StreamReader", "StreamWriter"]

MAX_TIMEOUT = 24 * 3600  # seconds: Modal's limit for a sandbox's lifetime


class Sandbox(SandboxFileOps):
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
        self._attached = True  # until detach()

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
        encrypted_ports: Sequence[int] = (),
        unencrypted_ports: Sequence[int] = (),  # refused when given: see refuse_sandbox_ports
        h2_ports: Sequence[int] = (),
        pty: bool = False,
        inbound_cidr_allowlist: Sequence[str] | None = None,
        outbound_cidr_allowlist: Sequence[str] | None = None,
        outbound_domain_allowlist: Sequence[str] | None = None,
        runtime: str | None = None,
        pty_info: Any = None,  # Modal's deprecated spelling of pty=True
        cidr_allowlist: Sequence[str] | None = None,  # ... and of outbound_cidr_allowlist
    ) -> Sandbox:
        """Start a sandbox in `app`: a running or deployed App (inside a function's container, by
        default that function's app, the only one whose sandboxes it may see). With
        `entrypoint_args` it runs that command and finishes when it exits; without, it stays up
        until `timeout` (seconds, at most 24 h) or `terminate()`. `idle_timeout` ends it after
        that long with no command running and no input or output. `image` is built and used
        as for a function (the sandbox runs in its root filesystem, on its Python).
        `encrypted_ports`: ports of the sandbox reachable over HTTP through the server's
        gateway while it runs, at the URLs `tunnels()` returns; `inbound_cidr_allowlist`: the
        only caller addresses they (and `create_connect_token`'s URLs) answer. `pty=True` runs
        the entrypoint on a terminal (its stderr then comes on stdout). `outbound_cidr_allowlist`:
        the only IPv4 networks it may connect to (within its worker's own policy; needs a worker
        whose runtime isolates the network, bwrap or gvisor).

            sb = Sandbox.create("python", "-c", "print(1)", app=app, timeout=60)
            sb.wait()
            print(sb.returncode, sb.stdout.read())
        """
        note_ignored("Sandbox.create", {"region": region, "cloud": cloud, "experimental_options": experimental_options})
        refuse_sandbox_ports(unencrypted_ports, h2_ports)
        refuse_unenforced(outbound_domain_allowlist=outbound_domain_allowlist, runtime=runtime)
        outbound = outbound_networks(outbound_cidr_allowlist, cidr_allowlist)
        inbound = inbound_networks(inbound_cidr_allowlist)
        if any(not isinstance(p, int) or isinstance(p, bool) for p in encrypted_ports):
            raise InvalidError(f"encrypted_ports must be port numbers, got {list(encrypted_ports)!r}")
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
        definition.outbound_cidr_allowlist.extend(outbound)
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
            encrypted_ports=list(encrypted_ports),
            pty=pty or pty_info is not None,
            inbound_cidr_allowlist=inbound,
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

    @twin
    async def _experimental_stats(
        self, *, since: datetime.datetime | None = None, until: datetime.datetime | None = None
    ) -> SandboxStats:
        """How long the sandbox ran in [since, until) (by default its life so far; naive datetimes
        are local time) and the cores and memory it reserved meanwhile (as Modal's method of
        this name; nano-modal samples no usage and has no bill: see `types.SandboxStats`)."""
        from ._stats import sandbox_stats

        return await sandbox_stats(await Client.get(), self.object_id, since, until)

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
        self._ensure_attached()
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

    @twin
    async def tunnels(self, timeout: int = 50) -> dict[int, Tunnel]:
        """The sandbox's `encrypted_ports`, each with the URL that reaches it from outside:

            sb = Sandbox.create("python", "-m", "http.server", "8000", encrypted_ports=[8000], app=app)
            print(httpx.get(sb.tunnels()[8000].url).text)

        Requests are relayed whole through the gateway (no streaming, no WebSocket), as for
        `modal.forward`; the URL holds the tunnel's key, its only credential."""
        del timeout  # the tunnels exist from create() on: nothing to wait for
        self._ensure_attached()
        client = await Client.get()
        info = await client.stub.SandboxGet(api_pb2.SandboxGetRequest(sandbox_id=self.object_id), timeout=30)
        if info.done:
            raise SandboxTerminatedError(f"sandbox {self.object_id} has finished: its ports are closed")
        return {t.port: gateway_tunnel(client, t.path, t.host_label) for t in info.tunnels}

    @twin
    async def create_connect_token(
        self, user_metadata: str | dict[str, Any] | None = None, port: int = 8080
    ) -> SandboxConnectCredentials:
        """A token for HTTP requests to `port` of the sandbox, at the returned URL (with
        `Authorization: Bearer <token>`, or `?_modal_connect_token=<token>`). The server in the
        sandbox receives `user_metadata` (a dict as JSON) in the `X-Verified-User-Data` header,
        which callers cannot set themselves.

            creds = sb.create_connect_token(user_metadata={"user": "ada"})
            httpx.get(creds.url, headers={"Authorization": f"Bearer {creds.token}"})
        """
        self._ensure_attached()
        if isinstance(user_metadata, dict):
            try:
                user_metadata = json.dumps(user_metadata)
            except (TypeError, ValueError) as exc:
                raise InvalidError(f"user_metadata must be JSON-serializable: {exc}") from None
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise InvalidError(f"port must be between 1 and 65535, got {port!r}")
        client = await Client.get()
        request = api_pb2.SandboxCreateConnectTokenRequest(
            sandbox_id=self.object_id, port=port, user_metadata=user_metadata or ""
        )
        try:
            made = await client.stub.SandboxCreateConnectToken(request, timeout=30)
        except ExecutionError as exc:  # the server's FAILED_PRECONDITION: it has finished
            raise SandboxTerminatedError(str(exc)) from None
        return SandboxConnectCredentials(gateway_tunnel(client, made.path, made.host_label).url, made.token)

    # ------------------------------------------------------------------ running commands

    def _ensure_attached(self) -> None:
        if not self._attached:
            raise ClientClosed(
                f"this handle of sandbox {self.object_id} was detached: use Sandbox.from_id to drive it again"
            )

    @twin
    async def detach(self) -> None:
        """Let go of this handle: the sandbox runs on; commands, files and terminate() through
        this object raise ClientClosed from now on (wait, poll, returncode and logs still work)."""
        self._attached = False

    async def _start(self, request: api_pb2.ContainerExecRequest) -> str:
        self._ensure_attached()
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
        bufsize: int = -1,
        pty_info: Any = None,  # Modal's deprecated spelling of pty=True
    ) -> ContainerProcess[Any]:
        """Start `cmd` in the sandbox; returns at once with a ContainerProcess to read, write and wait on.
        `secrets` and `env` add environment variables; `timeout` kills it (returncode 124); `pty`
        gives it a terminal (stderr then comes on stdout); `text=False` reads bytes. `stdout`/`stderr`:
        StreamType.PIPE to read them (default), DEVNULL to drop them, STDOUT to print them here.
        `bufsize`: -1 (default) or 1, as in Modal (output is read as it comes either way).

            p = sb.exec("bash", "-c", "echo hi; exit 3")
            assert p.stdout.read() == "hi\\n" and p.wait() == 3
        """
        if not cmd or any(not isinstance(c, str) for c in cmd):
            raise InvalidError("exec needs a command: one or more strings")
        if timeout is not None and timeout <= 0:
            raise InvalidError(f"timeout must be positive, got {timeout}")
        if workdir is not None and not workdir.startswith("/"):
            raise InvalidError(f"workdir must be an absolute path, got {workdir!r}")
        if bufsize not in (-1, 1):
            raise InvalidError(f"bufsize must be -1 or 1, got {bufsize!r}")
        pty = pty or pty_info is not None
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
