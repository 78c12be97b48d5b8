"""In-memory state of the control plane: what is running where, right now.

The durable facts (apps, functions, calls, inputs, outputs) live in the Store; this is
the hot, rebuildable part: queues, containers, workers and who is waiting for what.

Containers are owned by `Containers` (containers.py), which moves them through their
state table; the other objects here refer to them by id only.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import deque
from dataclasses import dataclass, field

from ..proto import api_pb2
from .store import OutputRow


class ContainerState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"


class Signal:
    """A broadcast wake-up: waiters grab `.event`, `fire()` wakes all of them once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def fire(self) -> None:
        self.event.set()
        self.event = asyncio.Event()

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        if timeout <= 0:
            return
        # asyncio.timeout, not wait_for: wait_for runs event.wait() as a task of its own, two more
        # turns of the loop from fire() to this waiter, which then resumed after everything else
        # the same fire() woke (a .remote()'s answer after its container's next fetch).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()


class InputState(enum.Enum):
    """See inputs.py for the moves between them (input_states.py for their table)."""

    QUEUED = "queued"  # in its function's queue
    HELD = "held"  # handed to a container, which runs it
    RETRYING = "retrying"  # failed, waiting in its function's retry heap
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class QueuedInput:
    input_id: str
    call_id: str
    function_id: str
    idx: int
    args: api_pb2.Payload
    kind: int
    attempt: int = 0
    method_name: str = ""
    suspect: bool = False  # was out when its container died; runs alone until it finishes
    state: InputState = InputState.QUEUED
    # When it was accepted (unix s): its end-to-end latency starts there.
    queued_at: float = field(default_factory=time.time, compare=False)

    def to_proto(self) -> api_pb2.ContainerInput:
        return api_pb2.ContainerInput(
            input_id=self.input_id,
            call_id=self.call_id,
            idx=self.idx,
            args=self.args,
            attempt=self.attempt,
            kind=self.kind,  # type: ignore[arg-type]
            method_name=self.method_name,
        )


@dataclass
class Call:
    call_id: str
    function_id: str
    kind: int
    num_inputs: int = 0
    inputs_complete: bool = False
    cancelled: bool = False
    num_final: int = 0
    changed: Signal = field(default_factory=Signal)
    # Outputs are served from memory: every output with cursor > memory_floor is in `recent`.
    # Readers acknowledge by asking for later cursors, which trims `recent`.
    recent: list[OutputRow] = field(default_factory=list)
    memory_floor: int = 0
    # A .remote() call handed to a container before its record was written (start_call's
    # run_before_written): resolves once the call and its input are in the store.
    written: asyncio.Future[None] | None = None
    last_access: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> bool:
        return self.inputs_complete and self.num_final >= self.num_inputs


@dataclass
class Container:
    container_id: str
    function_id: str
    app_id: str
    worker_id: str
    token: str
    cpu: float
    memory_mb: int
    state: ContainerState = ContainerState.STARTING
    created_at: float = field(default_factory=time.monotonic)
    idle_since: float = field(default_factory=time.monotonic)
    held: dict[str, QueuedInput] = field(default_factory=dict)  # in the order handed over
    waiting: bool = False  # parked in ContainerGetInputs
    last_heard: float = field(default_factory=time.monotonic)  # any RPC from it counts as a heartbeat
    served: int = 0
    version: int = 0  # of its function's definition when it was placed
    gpu_devices: tuple[int, ...] = ()  # indices of its worker's GPUs that it holds
    workspace: str = "main"  # its app's: what it holds counts against that workspace's limits
    # The inputs handed to its latest numbered ContainerGetInputs: handed again to a resend of
    # that request (the answer was lost in a server stall) instead of new ones held by no one.
    handed_seq: int = 0
    handed: list[str] = field(default_factory=list)
    cpu_demand: float | None = None  # cores it ran or waited to run on, last measured while busy
    held_at_report: bool = False  # it held inputs at its worker's last CPU report
    # Unix seconds, for Function.stats (created_at is monotonic): placed, and its hello (0: not yet).
    placed_at: float = field(default_factory=time.time, compare=False)
    ready_at: float = field(default=0.0, compare=False)
    # It ends for a reason already known (it reported an input's timeout and is exiting, or the
    # server stopped it: a cancelled call, a scale-down, `container stop`): it is handed nothing
    # more, and the inputs it still holds when it exits (fetched ahead, or cut short by the stop)
    # run again free.
    ending: bool = False
    scaled_down: bool = False  # its last fetch told it to exit (idle past its scaledown window)

    @property
    def live(self) -> bool:
        return self.state in (ContainerState.STARTING, ContainerState.RUNNING)


@dataclass
class FunctionRuntime:
    function_id: str
    app_id: str
    name: str
    definition: api_pb2.FunctionDefinition
    queue: deque[QueuedInput] = field(default_factory=deque)
    delayed: list[tuple[float, int, QueuedInput]] = field(default_factory=list)  # heap of retries
    inputs_ready: Signal = field(default_factory=Signal)
    init_failure: api_pb2.ContainerInitFailedRequest | None = None
    version: int = 0  # bumped by each deployment; older containers drain and exit
    finished: deque[float] = field(default_factory=lambda: deque(maxlen=4096))  # when recent inputs finished
    retired: bool = False  # dropped from the app by a later deployment
    start_failures: int = 0  # its containers that exited before saying hello, in a row
    # When init_failure was set, and the count of worker registrations then: a worker that joins
    # or restarts since may have what was missing (container_lifecycle.retry_start_if_due).
    init_failed_at: float = 0.0
    init_failed_registrations: int = 0
    init_failures_in_a_row: int = 0  # without a container starting in between: the back-off doubles

    def drain_seconds(self, window: float = 2.0) -> float:
        """How long the live containers would take to clear the queue at their recent pace (inf if unknown)."""
        if not self.queue:
            return 0.0
        now = time.monotonic()
        recent = [t for t in self.finished if t >= now - window]
        if len(recent) < 20:
            return float("inf")
        rate = len(recent) / max(now - recent[0], 0.25)  # over the span actually observed
        return len(self.queue) / rate

    @property
    def slots(self) -> int:
        """Inputs one container runs at once."""
        return max(1, self.definition.max_concurrent_inputs)


@dataclass
class Worker:
    worker_id: str
    hostname: str
    cpu: float
    memory_mb: int
    last_seen: float = field(default_factory=time.monotonic)
    to_start: list[api_pb2.ContainerSpec] = field(default_factory=list)
    to_stop: list[str] = field(default_factory=list)
    to_attach: list[str] = field(default_factory=list)  # function containers to exec into (sandboxes.py)
    commands: Signal = field(default_factory=Signal)
    alive: bool = True
    gpus: list[str] = field(default_factory=list)  # model of each GPU device, by index
    runtimes: list[str] = field(default_factory=list)  # how it isolates containers (bwrap, gvisor, process)
    host_cpu_busy: float | None = None  # cores its whole host kept busy, at its last poll


@dataclass
class App:
    app_id: str
    name: str
    ephemeral: bool
    state: str = "running"  # "running" (ephemeral) | "deployed" | "stopped"
    version: int = 0
    workspace: str = "main"  # its functions, calls, containers and sandboxes are in it too (workspaces.py)
    last_heartbeat: float = field(default_factory=time.monotonic)
    function_ids: list[str] = field(default_factory=list)
    log_subscribers: list[asyncio.Queue[api_pb2.LogLine | None]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.state != "stopped"
