"""Containers: the one owner of every `Container`, and their state machine.

Every move of a container goes through `Containers.transition`, which accepts only the
moves in `TRANSITIONS` and returns *commands*: what the rest of the control plane must do
next (tell a worker to stop it, settle the inputs it held, ...). The handlers change the
container and this class's indexes only, never other objects, so that the state machine
can be driven and checked in-process with events in and commands out (tests/server/
test_container_states.py), the way dask.distributed's scheduler and worker states are.

    STARTING --hello--> RUNNING --stop--> STOPPING --exit--> EXITED --retention--> forgotten
        \\________________________ exit / lost _____________________/

An exited container stays known for `EXITED_RETENTION` seconds (late logs and outputs from
it are still attributed; `nano-modal container list --all` shows it), then is forgotten: a
server that starts containers for weeks holds only the live ones and the recently exited.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .state import Container, ContainerState, QueuedInput
from .workspace_limits import Usage

# Seconds an exited container stays known: long enough for its last logs and outputs in
# flight to arrive and for `container list --all` to show what just ended.
EXITED_RETENTION = 600.0


class InvalidTransition(RuntimeError):
    pass


# ------------------------------------------------------------------ commands (what must happen next)


@dataclass(frozen=True)
class StopOnWorker:
    """Tell the container's worker to stop it."""

    worker_id: str
    container_id: str


@dataclass(frozen=True)
class WakeFunction:
    """Wake the containers parked on the function's queue (a stopped one must notice)."""

    function_id: str


@dataclass(frozen=True)
class SettleHeldInputs:
    """The container ended holding inputs: run them again, retry or fail them."""

    container: Container
    held: tuple[QueuedInput, ...]
    exit_code: int
    reason: str
    blame_inputs: bool


@dataclass(frozen=True)
class CountStartFailure:
    """It exited before saying hello: one more start failure of its function in a row."""

    function_id: str
    exit_code: int
    reason: str


@dataclass(frozen=True)
class AnnounceExit:
    """Tell the exit hooks (sandboxes) and the app's log followers that it ended."""

    container: Container
    exit_code: int
    reason: str


Command = StopOnWorker | WakeFunction | SettleHeldInputs | CountStartFailure | AnnounceExit


@dataclass(frozen=True)
class Event:
    """Why a container moves: a reason for the log, and for an exit its code and whether the
    inputs it held count as failed attempts (not when its worker vanished)."""

    reason: str = ""
    exit_code: int = 0
    blame_inputs: bool = True


Handler = Callable[["Containers", Container, Event], list[Command]]


@dataclass
class _Tally:
    """What a group of active containers holds, kept as they come and go: placement reads it
    for every worker on every placement, so it must not walk the containers (100,000 of them
    on 100 workers made a placement 8 ms; bench_control_scale.py)."""

    count: int = 0
    milli_cpu: int = 0  # integer: sums of 0.1 cores added and taken away must come back to 0
    memory_mb: int = 0
    starting: int = 0

    def add(self, container: Container, sign: int) -> None:
        self.count += sign
        self.milli_cpu += sign * round(container.cpu * 1000)
        self.memory_mb += sign * container.memory_mb
        if container.state == ContainerState.STARTING:
            self.starting += sign


class Containers:
    def __init__(self, retention: float = EXITED_RETENTION) -> None:
        self.retention = retention
        self._active: dict[str, Container] = {}  # every container not yet exited
        self._exited: OrderedDict[str, tuple[Container, float]] = OrderedDict()  # by exit time
        self._by_function: dict[str, dict[str, Container]] = {}  # active ones only
        self._by_worker: dict[str, dict[str, Container]] = {}  # active ones only
        self._by_workspace: dict[str, dict[str, Container]] = {}  # active ones only
        self._worker_tally: dict[str, _Tally] = {}  # of the active ones on each worker
        self._workspace_tally: dict[str, _Tally] = {}  # of the active ones of each workspace
        self._by_token: dict[str, Container] = {}  # active function containers only (sandboxes have none)

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._active) + len(self._exited)

    def get(self, container_id: str) -> Container | None:
        found = self._active.get(container_id)
        if found is None and container_id in self._exited:
            found = self._exited[container_id][0]
        return found

    def by_token(self, token: str) -> Container | None:
        return self._by_token.get(token)

    def active(self) -> list[Container]:
        """Containers not yet exited (starting, running or stopping)."""
        return list(self._active.values())

    def all(self) -> Iterator[Container]:
        """Active and recently exited containers."""
        yield from self._active.values()
        for container, _ in self._exited.values():
            yield container

    def of_function(self, function_id: str) -> list[Container]:
        """The function's containers not yet exited."""
        return list(self._by_function.get(function_id, {}).values())

    def live_of_function(self, function_id: str) -> list[Container]:
        """The function's starting and running containers."""
        return [c for c in self._by_function.get(function_id, {}).values() if c.live]

    def on_worker(self, worker_id: str) -> list[Container]:
        return list(self._by_worker.get(worker_id, {}).values())

    def is_on_worker(self, worker_id: str, container_id: str) -> bool:
        return container_id in self._by_worker.get(worker_id, {})

    def reserved(self, worker_id: str) -> tuple[float, int]:
        """cpu and memory its containers hold until they exit."""
        tally = self._worker_tally.get(worker_id)
        return (tally.milli_cpu / 1000, tally.memory_mb) if tally else (0.0, 0)

    def usage(self, workspace: str) -> Usage:
        """What the workspace's containers hold until they exit (its limits: workspace_limits.py)."""
        tally = self._workspace_tally.get(workspace)
        return Usage(tally.count, tally.milli_cpu / 1000, tally.memory_mb) if tally else Usage()

    def gpus_taken(self, worker_id: str) -> set[int]:
        return {i for c in self._by_worker.get(worker_id, {}).values() for i in c.gpu_devices}

    def starting(self, worker_id: str) -> int:
        tally = self._worker_tally.get(worker_id)
        return tally.starting if tally else 0

    def _tally(self, container: Container, sign: int) -> None:
        for tallies, key in ((self._worker_tally, container.worker_id), (self._workspace_tally, container.workspace)):
            tally = tallies.setdefault(key, _Tally())
            tally.add(container, sign)
            if not tally.count:
                del tallies[key]

    # ------------------------------------------------------------------ events

    def add(self, container: Container, *, with_token: bool = True) -> None:
        """A container placed on a worker (STARTING). Without a token (a sandbox), no RPC
        credential ever finds it."""
        if container.state != ContainerState.STARTING or self.get(container.container_id) is not None:
            raise InvalidTransition(f"container {container.container_id} is already known")
        self._active[container.container_id] = container
        self._by_function.setdefault(container.function_id, {})[container.container_id] = container
        self._by_worker.setdefault(container.worker_id, {})[container.container_id] = container
        self._by_workspace.setdefault(container.workspace, {})[container.container_id] = container
        self._tally(container, +1)
        if with_token:
            self._by_token[container.token] = container

    def transition(
        self,
        container: Container,
        new_state: ContainerState,
        reason: str = "",
        *,
        exit_code: int = 0,
        blame_inputs: bool = True,
    ) -> list[Command]:
        """Move `container` to `new_state` (one of the table's moves) and return what must happen
        next. A move to the state it is in is a no-op: exits and stops are reported twice often."""
        if container.state == new_state:
            return []
        handler = TRANSITIONS.get((container.state, new_state))
        if handler is None:
            raise InvalidTransition(
                f"container {container.container_id}: {container.state.value} -> {new_state.value} is not allowed"
            )
        self._tally(container, -1)  # out with what it held in its old state (starting or not) ...
        commands = handler(self, container, Event(reason, exit_code, blame_inputs))
        container.state = new_state
        if new_state != ContainerState.EXITED:
            self._tally(container, +1)  # ... and in with its new one, unless it holds nothing now
        return commands

    def forget_expired(self, now: float | None = None) -> int:
        """Forget containers that exited more than `retention` seconds ago; returns how many."""
        cutoff = (time.monotonic() if now is None else now) - self.retention
        forgotten = 0
        while self._exited:
            container_id, (_, exited_at) = next(iter(self._exited.items()))
            if exited_at > cutoff:
                break
            del self._exited[container_id]
            forgotten += 1
        return forgotten

    # ------------------------------------------------------------------ handlers

    def _hello(self, container: Container, event: Event) -> list[Command]:
        container.idle_since = time.monotonic()
        return []

    def _stop(self, container: Container, event: Event) -> list[Command]:
        return [StopOnWorker(container.worker_id, container.container_id), WakeFunction(container.function_id)]

    def _exit(self, container: Container, event: Event) -> list[Command]:
        self._active.pop(container.container_id, None)
        self._exited[container.container_id] = (container, time.monotonic())
        for index, key in (
            (self._by_function, container.function_id),
            (self._by_worker, container.worker_id),
            (self._by_workspace, container.workspace),
        ):
            group = index.get(key)
            if group is not None:
                group.pop(container.container_id, None)
                if not group:
                    del index[key]
        if self._by_token.get(container.token) is container:
            del self._by_token[container.token]
        commands: list[Command] = []
        if container.state == ContainerState.STARTING and event.blame_inputs:
            commands.append(CountStartFailure(container.function_id, event.exit_code, event.reason))
        held = tuple(container.held.values())
        container.held.clear()
        if held:
            commands.append(SettleHeldInputs(container, held, event.exit_code, event.reason, event.blame_inputs))
        commands.append(AnnounceExit(container, event.exit_code, event.reason))
        return commands


S = ContainerState
TRANSITIONS: dict[tuple[ContainerState, ContainerState], Handler] = {
    (S.STARTING, S.RUNNING): Containers._hello,
    (S.STARTING, S.STOPPING): Containers._stop,
    (S.RUNNING, S.STOPPING): Containers._stop,
    (S.STARTING, S.EXITED): Containers._exit,
    (S.RUNNING, S.EXITED): Containers._exit,
    (S.STOPPING, S.EXITED): Containers._exit,
}
