"""Sandboxes: containers that run the user's command instead of a function.

A sandbox is placed like any function container (`ControlPlane.place_container` with an
in-memory FunctionRuntime that only this module knows), so cpu/memory limits, secrets,
block_network and, once they exist, images apply the same way. Differences:

- its container runs the sandbox agent (container/sandbox_agent.py), which starts the
  entrypoint and every exec inside the container;
- it gets no credential: its token is dropped from the control plane before the spec goes
  out, and the worker gives it neither a token nor the server's address;
- its worker holds a `SandboxRelay` stream for it: exec starts, stdin and kills go down,
  output and exit codes come up into `ExecState` buffers that clients read by offset.

State is in memory only: sandboxes do not survive a server restart (their workers stop
them as unknown containers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from .. import config
from ..proto import api_pb2
from .control import ControlPlane, Invalid, NotFound, new_id
from .placement import reserved_size
from .sandbox_ports import ConnectPort, check_allowlist, check_outbound, check_ports, open_ports
from .state import Container, ContainerState, FunctionRuntime, Signal

log = logging.getLogger("nano_modal.server")

MAX_TIMEOUT = 24 * 3600.0  # Modal's limit for a sandbox's lifetime
PLACE_TIMEOUT = 10.0  # seconds a create waits for a worker with room
OUTPUT_READ_MAX = 1024 * 1024  # bytes per ContainerExecGetOutput answer
OUTPUT_KEEP = 32 * 1024 * 1024  # bytes of each stream kept for readers; older output is dropped
FORGET_AFTER = 600.0  # seconds a finished sandbox (or command) stays known, for late readers
TIMEOUT_CODE = 124  # Modal's returncode for a sandbox that ran out of time
TERMINATED_CODE = 137  # ... and for one that was terminated


class Finished(Exception):
    """The sandbox has finished: it runs nothing more."""


@dataclass
class ExecState:
    """A command's output (by stream: the kept bytes, and the offset of the first of them)."""

    exec_id: str
    sandbox_id: str
    out: dict[int, bytearray] = field(default_factory=lambda: {1: bytearray(), 2: bytearray()})
    floor: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0})
    eof: dict[int, bool] = field(default_factory=lambda: {1: False, 2: False})
    returncode: int | None = None
    finished_at: float = 0.0
    changed: Signal = field(default_factory=Signal)

    def append(self, fd: int, data: bytes) -> None:
        buffer = self.out[fd]
        buffer += data
        if len(buffer) > OUTPUT_KEEP:  # a reader that far behind skips ahead
            drop = len(buffer) - OUTPUT_KEEP
            del buffer[:drop]
            self.floor[fd] += drop

    def exited(self, code: int) -> None:
        self.eof = {1: True, 2: True}
        if self.returncode is None:
            self.returncode = code
            self.finished_at = time.monotonic()
        self.changed.fire()


@dataclass
class SandboxState:
    sandbox_id: str
    app_id: str
    name: str
    fn: FunctionRuntime
    container: Container
    deadline: float
    idle_timeout: float
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    ended_at: float = 0.0  # unix seconds it ended (0: running), for its stats
    last_active: float = field(default_factory=time.monotonic)
    down: asyncio.Queue[api_pb2.SandboxRelayDown] = field(default_factory=asyncio.Queue)
    running: set[str] = field(default_factory=set)  # execs not yet exited
    result: str = ""  # completed | terminated | timeout | failed, once done
    returncode: int | None = None
    reason: str = ""
    main_code: int | None = None
    finished: Signal = field(default_factory=Signal)
    tunnels: list[api_pb2.SandboxTunnel] = field(default_factory=list)  # its encrypted_ports (sandbox_ports.py)
    inbound_allowlist: list[str] = field(default_factory=list)  # who may reach them ([]: anyone with the URL)
    connect_ports: dict[int, ConnectPort] = field(default_factory=dict)  # create_connect_token's

    @property
    def done(self) -> bool:
        return self.returncode is not None


class SandboxPlane:
    def __init__(self, control: ControlPlane, secret_env: Callable[[list[str]], dict[str, str]]) -> None:
        self.control = control
        self.secret_env = secret_env
        self.sandboxes: dict[str, SandboxState] = {}
        self.execs: dict[str, ExecState] = {}
        # Function containers someone execs into: the same relay, started on demand (no entrypoint).
        self.attached: dict[str, SandboxState] = {}
        self._reaper: asyncio.Task[None] | None = None
        control.container_exit_hooks.append(self._container_exited)

    # ------------------------------------------------------------------ lifecycle

    async def create(self, request: api_pb2.SandboxCreateRequest, scope: str = "") -> SandboxState:
        """`scope`: the app of the function container asking ("" for the admin): it may create
        sandboxes in that app only, and is the app when the request names none."""
        if scope and request.app_id not in ("", scope):
            raise NotFound(f"app {request.app_id} not found")
        if scope:
            request.app_id = scope
        definition = request.definition
        timeout = definition.timeout or config.DEFAULT_TIMEOUT
        if timeout < 0 or timeout > MAX_TIMEOUT:
            raise Invalid(f"timeout must be between 1 second and 24 hours ({MAX_TIMEOUT:.0f} s), got {timeout:g}")
        if request.idle_timeout < 0:
            raise Invalid(f"idle_timeout must be positive, got {request.idle_timeout:g}")
        check_ports(request)
        check_allowlist(list(request.inbound_cidr_allowlist))
        check_outbound(request.definition)
        app = self.control.app(request.app_id)
        if not app.live:
            raise Invalid(f"app {app.name} ({app.app_id}) is stopped")
        if request.name and self._by_name(request.app_id, request.name) is not None:
            raise Invalid(f"a running sandbox named {request.name!r} already exists in app {app.name}")
        sandbox_id = new_id("sb")
        fn = FunctionRuntime(sandbox_id, request.app_id, request.name or "sandbox", definition)
        self.control.functions[sandbox_id] = fn  # found by the control plane like any function
        container = None
        give_up = time.monotonic() + PLACE_TIMEOUT
        cpu, memory = reserved_size(definition)
        while container is None:
            container = self.control.place_container(fn, container_id=sandbox_id, sandbox=True)
            if container is None:
                never = self.control.unplaceable(fn)
                if never is None and self.control.workspace_full(app.workspace, cpu, memory):
                    self.control.evict_idle_container(needed_by=fn)  # a warm one of its own workspace
                if never is not None or time.monotonic() > give_up:
                    del self.control.functions[sandbox_id]
                    full = self.control.workspace_full(app.workspace, cpu, memory)
                    raise Invalid(
                        never
                        or (f"no room for a sandbox: {full}" if full else None)
                        or f"no worker has room for a sandbox with cpu={cpu:g}, memory={memory} MiB"
                    )
                await asyncio.sleep(0.05)
        if request.name and self._by_name(request.app_id, request.name) is not None:  # taken while it waited
            self.control.stop_container(container)
            raise Invalid(f"a running sandbox named {request.name!r} already exists in app {app.name}")
        sb = SandboxState(
            sandbox_id,
            request.app_id,
            request.name,
            fn,
            container,
            deadline=time.monotonic() + timeout,
            idle_timeout=request.idle_timeout,
            inbound_allowlist=list(request.inbound_cidr_allowlist),
        )
        self.sandboxes[sandbox_id] = sb
        self.execs[sandbox_id] = ExecState(sandbox_id, sandbox_id)  # the entrypoint's output
        open_ports(self, sb, list(request.encrypted_ports))
        if request.entrypoint_args:
            sb.running.add(sandbox_id)
            sb.down.put_nowait(
                api_pb2.SandboxRelayDown(
                    exec_id=sandbox_id,
                    start=True,
                    argv=request.entrypoint_args,
                    workdir=request.workdir,
                    pty=request.pty,
                )
            )
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever())
        return sb

    def get(self, sandbox_id: str, scope: str = "") -> SandboxState:
        sb = self.sandboxes.get(sandbox_id)
        if sb is None or (scope and sb.app_id != scope):  # another app's sandbox does not exist for it
            raise NotFound(f"sandbox {sandbox_id} not found")
        return sb

    def from_name(
        self, app_name: str, name: str, scope: str = "", visible: Callable[[str], bool] = lambda app_id: True
    ) -> SandboxState:
        """`visible`: whether the caller may see a sandbox of that app (its workspace's)."""
        for sb in self.sandboxes.values():
            app = self.control.apps.get(sb.app_id)
            mine = (not scope or sb.app_id == scope) and visible(sb.app_id)
            if mine and not sb.done and sb.name == name and app is not None and app.name == app_name:
                return sb
        raise NotFound(f"no running sandbox named {name!r} in app {app_name!r}")

    def _by_name(self, app_id: str, name: str) -> SandboxState | None:
        return next((s for s in self.sandboxes.values() if s.app_id == app_id and s.name == name and not s.done), None)

    def matching(
        self, app_id: str, tags: dict[str, str], include_finished: bool, scope: str = ""
    ) -> list[SandboxState]:
        return [
            sb
            for sb in self.sandboxes.values()
            if (not app_id or sb.app_id == app_id)
            and (not scope or sb.app_id == scope)
            and (include_finished or not sb.done)
            and all(sb.tags.get(k) == v for k, v in tags.items())
        ]

    def terminate(self, sandbox_id: str, result: str = "terminated", scope: str = "") -> None:
        sb = self.get(sandbox_id, scope)
        if sb.done or sb.result:
            return
        sb.result = result
        self.control.stop_container(sb.container)
        if sb.container.state == ContainerState.STOPPING and sb.container.worker_id not in self.control.workers:
            self.control.container_exited(sb.sandbox_id, -1, "its worker is gone")

    async def wait(self, sandbox_id: str, timeout: float, scope: str = "") -> SandboxState:
        sb = self.get(sandbox_id, scope)
        if not sb.done:
            await sb.finished.wait(sb.finished.event, timeout)
        return sb

    def _container_exited(self, container: Container, code: int, reason: str) -> None:
        attached = self.attached.pop(container.container_id, None)
        for state in [e for e in self.execs.values() if attached is not None and e.sandbox_id == attached.sandbox_id]:
            state.exited(TERMINATED_CODE)
        sb = self.sandboxes.get(container.container_id)
        if sb is None or sb.done:
            return
        app = self.control.apps.get(sb.app_id)
        if not sb.result and (app is None or not app.live):
            sb.result = "terminated"  # its app was stopped
        if sb.result == "timeout":
            sb.returncode = TIMEOUT_CODE
        elif sb.result == "terminated":
            sb.returncode = TERMINATED_CODE
        elif sb.main_code is not None:
            sb.result, sb.returncode = "completed", sb.main_code
        else:  # it died before its entrypoint ended (out of memory, its worker vanished, ...)
            sb.result, sb.returncode = "failed", code if code else 1
        sb.reason = reason
        sb.ended_at = time.time()
        for state in [e for e in self.execs.values() if e.sandbox_id == sb.sandbox_id]:
            state.exited(sb.returncode if state.exec_id == sb.sandbox_id else TERMINATED_CODE)
        sb.running.clear()
        sb.finished.fire()

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self.reap()

    def reap(self) -> None:
        """End sandboxes past their timeout or idle timeout; forget what finished long ago."""
        now = time.monotonic()
        for exec_id, state in list(self.execs.items()):
            if state.returncode is not None and now - state.finished_at > FORGET_AFTER:
                del self.execs[exec_id]
        for sb in list(self.sandboxes.values()):
            if sb.done and sb.sandbox_id not in self.execs:  # its entrypoint's output is gone too
                del self.sandboxes[sb.sandbox_id]
                self.control.functions.pop(sb.sandbox_id, None)
            if sb.done or sb.result:
                continue
            idle = sb.idle_timeout and not sb.running and now - sb.last_active > sb.idle_timeout
            if now > sb.deadline or idle:
                self.terminate(sb.sandbox_id, "timeout")

    # ------------------------------------------------------------------ exec

    def exec(self, request: api_pb2.ContainerExecRequest, scope: str = "") -> ExecState:
        sb = self.sandboxes.get(request.container_id)
        container = self.control.containers.get(request.container_id)
        if sb is None and container is not None and not scope:  # the admin, into a function's container
            sb = self._attach(container)
        if sb is None or (scope and sb.app_id != scope):
            raise NotFound(f"sandbox {request.container_id} not found")
        if sb.done or sb.result:
            raise Finished(f"sandbox {sb.sandbox_id} has finished ({sb.result or 'stopping'}): it cannot run more")
        if not request.argv and not request.builtin:
            raise Invalid("exec needs a command")
        if request.timeout < 0:
            raise Invalid(f"timeout must be positive, got {request.timeout:g}")
        env = dict(self.secret_env(list(request.secret_ids)))
        env.update(request.env)
        state = ExecState(new_id("ex"), sb.sandbox_id)
        self.execs[state.exec_id] = state
        sb.running.add(state.exec_id)
        sb.last_active = time.monotonic()
        sb.down.put_nowait(
            api_pb2.SandboxRelayDown(
                exec_id=state.exec_id,
                start=True,
                argv=request.argv,
                workdir=request.workdir,
                env=env,
                pty=request.pty,
                timeout=request.timeout,
                builtin=request.builtin,
            )
        )
        return state

    def _attach(self, container: Container) -> SandboxState:
        """Have the worker start the agent in a running function container (see worker/agent.py)."""
        if container.state != ContainerState.RUNNING:
            raise Finished(f"container {container.container_id} is {container.state.value}: exec needs it running")
        sb = self.attached.get(container.container_id)
        if sb is None or sb.reason:  # not yet, or its agent did not start last time: ask (again)
            fn = self.control.functions[container.function_id]
            sb = SandboxState(container.container_id, container.app_id, fn.name, fn, container, math.inf, 0.0)
            self.attached[container.container_id] = sb
            worker = self.control.workers.get(container.worker_id)
            if worker is not None:
                worker.to_attach.append(container.container_id)
                worker.commands.fire()
        return sb

    def _owner(self, sandbox_id: str) -> SandboxState | None:
        return self.sandboxes.get(sandbox_id) or self.attached.get(sandbox_id)

    def _exec(self, exec_id: str, scope: str) -> ExecState:
        state = self.execs.get(exec_id)
        sb = self._owner(state.sandbox_id) if state is not None else None
        if state is None or sb is None or (scope and sb.app_id != scope):
            raise NotFound(f"process {exec_id} not found")
        return state

    async def read(
        self, exec_id: str, fd: int, offset: int, timeout: float, scope: str = ""
    ) -> api_pb2.ContainerExecGetOutputResponse:
        state = self._exec(exec_id, scope)
        if fd not in state.out:
            raise Invalid(f"fd must be 1 (stdout) or 2 (stderr), got {fd}")
        deadline = time.monotonic() + timeout
        while self._end(state, fd) <= offset and not state.eof[fd] and time.monotonic() < deadline:
            await state.changed.wait(state.changed.event, deadline - time.monotonic())
        start = max(offset, state.floor[fd]) - state.floor[fd]
        data = bytes(state.out[fd][start : start + OUTPUT_READ_MAX])
        end = state.floor[fd] + start + len(data)
        return api_pb2.ContainerExecGetOutputResponse(
            data=data, next_offset=end, eof=state.eof[fd] and end >= self._end(state, fd)
        )

    @staticmethod
    def _end(state: ExecState, fd: int) -> int:
        return state.floor[fd] + len(state.out[fd])

    def write(self, request: api_pb2.ContainerExecPutInputRequest, scope: str = "") -> None:
        state = self._exec(request.exec_id, scope)
        sb = self._owner(state.sandbox_id)
        if state.returncode is not None or sb is None or sb.done:
            return  # like writing to a pipe nobody reads any more: dropped
        sb.last_active = time.monotonic()
        sb.down.put_nowait(
            api_pb2.SandboxRelayDown(
                exec_id=request.exec_id, stdin=request.data, stdin_eof=request.eof, rows=request.rows, cols=request.cols
            )
        )

    async def wait_exec(self, exec_id: str, timeout: float, scope: str = "") -> ExecState:
        state = self._exec(exec_id, scope)
        deadline = time.monotonic() + timeout
        while state.returncode is None and time.monotonic() < deadline:
            await state.changed.wait(state.changed.event, deadline - time.monotonic())
        return state

    # ------------------------------------------------------------------ the worker's relay

    async def relay(self, requests: AsyncIterator[api_pb2.SandboxRelayUp]) -> AsyncIterator[api_pb2.SandboxRelayDown]:
        first = await anext(requests)
        sb = self._owner(first.sandbox_id)
        if sb is None:
            raise NotFound(f"sandbox {first.sandbox_id} not found")
        if first.error:  # no agent (a worker that says so at once)
            self._agent_failed(sb, first.error)
            return
        if sb.container.state == ContainerState.STARTING:
            self.control.container_hello(sb.container)
        sb.container.last_heard = time.monotonic()

        async def receive() -> None:
            async for up in requests:
                self._up(sb, up)

        receiver = asyncio.create_task(receive())
        try:
            while not receiver.done():
                getter = asyncio.create_task(sb.down.get())
                await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                yield getter.result()
        finally:
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver

    def _agent_failed(self, sb: SandboxState, error: str) -> None:
        """No agent came: fail the commands sent its way or waiting to be; a later exec into a
        function container asks for an agent again."""
        sb.reason = error
        waiting = [sb.down.get_nowait().exec_id for _ in range(sb.down.qsize())]
        for exec_id in [*sb.running, *waiting]:
            state = self.execs.get(exec_id)
            if state is not None and state.returncode is None:
                state.append(2, f"nano-modal: {error}\n".encode())
                state.exited(126)

    def _up(self, sb: SandboxState, up: api_pb2.SandboxRelayUp) -> None:
        sb.container.last_heard = time.monotonic()
        if up.error and not up.exec_id:  # the worker's relay: the agent never dialed in
            self._agent_failed(sb, up.error)
            return
        state = self.execs.get(up.exec_id)
        if up.keepalive or state is None or state.sandbox_id != sb.sandbox_id:
            return
        if up.data:
            sb.last_active = time.monotonic()
            state.append(up.fd if up.fd in (1, 2) else 1, up.data)
            if up.exec_id == sb.sandbox_id:  # the entrypoint's output is also the container's log
                line = api_pb2.LogLine(
                    container_id=sb.sandbox_id, fd=up.fd, data=up.data.decode(errors="replace"), timestamp=time.time()
                )
                self.control.publish_logs([line])
        if up.eof:
            state.eof[up.fd] = True
        if up.exited:
            state.exited(up.exit_code)
            sb.running.discard(up.exec_id)
            sb.last_active = time.monotonic()
            if up.exec_id == sb.sandbox_id:
                sb.main_code = up.exit_code
        state.changed.fire()

    # ------------------------------------------------------------------ describing

    def info(self, sb: SandboxState) -> api_pb2.SandboxInfo:
        app = self.control.apps.get(sb.app_id)
        return api_pb2.SandboxInfo(
            sandbox_id=sb.sandbox_id,
            app_id=sb.app_id,
            app_name=app.name if app is not None else "",
            name=sb.name,
            tags=sb.tags,
            state=sb.container.state.value,
            done=sb.done,
            returncode=sb.returncode or 0,
            result=sb.result if sb.done else "",
            reason=sb.reason,
            worker_id=sb.container.worker_id,
            created_at=sb.created_at,
            tunnels=[] if sb.done else sb.tunnels,
        )

    def containers(self, include_finished: bool, workspace: str | None = None) -> list[api_pb2.ContainerSummary]:
        """The containers (`workspace`'s only, unless None: the operator's view)."""
        found = []
        now_wall, now = time.time(), time.monotonic()
        for c in self.control.containers.all():
            if c.state == ContainerState.EXITED and not include_finished:
                continue
            if workspace is not None and c.workspace != workspace:
                continue
            app = self.control.apps.get(c.app_id)
            fn = self.control.functions.get(c.function_id)
            found.append(
                api_pb2.ContainerSummary(
                    container_id=c.container_id,
                    app_id=c.app_id,
                    app_name=app.name if app is not None else "",
                    function_name=fn.name if fn is not None else "",
                    sandbox=c.container_id in self.sandboxes,
                    state=c.state.value,
                    worker_id=c.worker_id,
                    started_at=now_wall - (now - c.created_at),
                )
            )
        return found

    def stop(self, container_id: str) -> None:
        if container_id in self.sandboxes:
            self.terminate(container_id)
            return
        container = self.control.containers.get(container_id)
        if container is None:
            raise NotFound(f"container {container_id} not found")
        self.control.stop_container(container)
