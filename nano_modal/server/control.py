"""The control plane's logic: apps, calls, the input queues, containers and workers.

Runs on one asyncio loop; every method is called from the gRPC service or the
scheduler. Durable changes go through the Store before anyone is told about them.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable

from .. import _gpu as gpu
from .. import config
from ..exception import ExecutionError, InvalidError
from ..proto import api_pb2
from ..serialization import serialize
from .group_commit import GroupCommit
from .images import build_secrets
from .state import App, Call, Container, ContainerState, FunctionRuntime, QueuedInput, Signal, Worker
from .store import AppRow, CallRow, FunctionRow, InputRow, LogRow, OutputRow, Store
from .web_channels import WebChannels

log = logging.getLogger("nano_modal.server")

FINAL_FAILURES = (api_pb2.OUTPUT_STATUS_FAILURE, api_pb2.OUTPUT_STATUS_TIMEOUT)
_retry_tiebreak = itertools.count()


# What a class instance takes from its class's definition; everything else (cpu, memory,
# max_containers, timeouts, ...) is an option that `with_options` may change.
CODE_FIELDS = (
    "name",
    "module_name",
    "source_blob_id",
    "pickled_blob_id",
    "is_generator",
    "is_async",
    "is_class",
    "methods",
    "python_version",
)


def bound_definition(
    parent: api_pb2.FunctionDefinition, options: api_pb2.FunctionDefinition, params: bytes, parent_id: str
) -> api_pb2.FunctionDefinition:
    definition = api_pb2.FunctionDefinition()
    definition.CopyFrom(options)
    for name in CODE_FIELDS:
        definition.ClearField(name)
    for name in CODE_FIELDS:
        if name == "methods":
            definition.methods.extend(parent.methods)
        else:
            setattr(definition, name, getattr(parent, name))
    definition.bound_params = params
    definition.parent_function_id = parent_id
    return definition


def _max_starting(worker: Worker) -> int:
    """Containers a worker may be starting at once: starts are cpu-heavy (a fresh interpreter)."""
    return max(2, int(worker.cpu * 2))


def _bind_key(definition: api_pb2.FunctionDefinition) -> str:
    return hashlib.sha256(definition.SerializeToString(deterministic=True)).hexdigest()


class NotFound(Exception):
    pass


class Invalid(Exception):
    pass


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


class ControlPlane:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.apps: dict[str, App] = {}
        self.functions: dict[str, FunctionRuntime] = {}
        self.calls: dict[str, Call] = {}
        self.containers: dict[str, Container] = {}
        self.container_tokens: dict[str, str] = {}  # token -> container_id
        self.workers: dict[str, Worker] = {}
        self.scale_needed = Signal()  # wakes the scheduler: inputs that no parked container will take
        self.bound: dict[str, str] = {}  # bind key of a class instance -> its function id
        # Extra environment for a new container of a function (object_service.py adds secrets and volumes).
        self.container_env_hooks: list[Callable[[FunctionRuntime], dict[str, str]]] = []
        # Told of every container's end (sandboxes.py turns a sandbox's into its returncode).
        self.container_exit_hooks: list[Callable[[Container, int, str], None]] = []
        self.web_channels = WebChannels()  # WebSocket client messages for the containers serving them
        self.secret_variables: Callable[[str], dict[str, str]] | None = None  # for image build steps
        self._output_commit = GroupCommit(self._record_outputs)  # containers' outputs, many puts per transaction

    # ------------------------------------------------------------------ recovery

    def recover(self) -> int:
        """Rebuild queues from the store after a restart; returns the number of requeued inputs."""
        for app_row in self.store.running_apps():
            self.apps[app_row.app_id] = App(
                app_row.app_id, app_row.name, app_row.ephemeral, state=app_row.state, version=app_row.version
            )
            for fn_row in self.store.app_functions(app_row.app_id):
                self._function(fn_row.function_id)  # so the scheduler keeps min_containers warm
        count = 0
        for row in self.store.unfinished_inputs():
            fn = self._function(row.function_id)
            call = self.get_call(row.call_id)
            if call.cancelled:
                continue
            payload = api_pb2.Payload(data=row.args, blob_id=row.args_blob)
            fn.queue.append(
                QueuedInput(
                    row.input_id,
                    row.call_id,
                    row.function_id,
                    row.idx,
                    payload,
                    call.kind,
                    row.attempt,
                    row.method_name,
                )
            )
            count += 1
        return count

    # ------------------------------------------------------------------ apps

    def create_app(self, name: str, ephemeral: bool) -> str:
        app_id = new_id("ap")
        self.store.create_app(AppRow(app_id, name, "running", ephemeral, time.time()))
        self.apps[app_id] = App(app_id, name, ephemeral)
        return app_id

    def app(self, app_id: str) -> App:
        app = self.apps.get(app_id)
        if app is None:
            row = self.store.get_app(app_id)
            if row is None:
                raise NotFound(f"app {app_id} not found")
            app = self.apps[app_id] = App(row.app_id, row.name, row.ephemeral, state=row.state, version=row.version)
        return app

    def heartbeat_app(self, app_id: str) -> None:
        self.app(app_id).last_heartbeat = time.monotonic()

    def stop_app(self, app_id: str) -> None:
        app = self.app(app_id)
        if app.state == "stopped":
            return
        app.state = "stopped"
        self.store.set_app_state(app_id, "stopped")
        for fn in [f for f in self.functions.values() if f.app_id == app_id]:
            unfinished = list(fn.queue) + [item for _, _, item in fn.delayed]
            fn.queue.clear()
            fn.delayed.clear()
            for container in fn.live_containers():
                unfinished.extend(container.held.values())
                container.held.clear()
                self.stop_container(container)
            self._fail_inputs(unfinished, api_pb2.OUTPUT_STATUS_CANCELLED, "the app was stopped")
            fn.inputs_ready.fire()
        self._wake_log_followers(app)

    # ------------------------------------------------------------------ functions

    def create_function(self, app_id: str, definition: api_pb2.FunctionDefinition) -> str:
        app = self.app(app_id)
        if not app.live:
            raise Invalid(f"app {app.name} ({app_id}) is stopped")
        if not definition.name:
            raise Invalid("a function needs a name")
        function_id = new_id("fu")
        self.store.create_function(
            FunctionRow(function_id, app_id, definition.name, definition.SerializeToString(), time.time())
        )
        self.functions[function_id] = FunctionRuntime(function_id, app_id, definition.name, definition)
        app.function_ids.append(function_id)
        return function_id

    def redefine_function(self, function_id: str, definition: api_pb2.FunctionDefinition) -> None:
        """Give a function created ahead of its definition (Modal's FunctionPrecreate) its definition."""
        fn = self._function(function_id)
        fn.definition = definition
        self.store.update_function(function_id, definition.SerializeToString())

    def _function(self, function_id: str) -> FunctionRuntime:
        fn = self.functions.get(function_id)
        if fn is None:
            row = self.store.get_function(function_id)
            if row is None:
                raise NotFound(f"function {function_id} not found")
            definition = api_pb2.FunctionDefinition.FromString(row.definition)
            fn = self.functions[function_id] = FunctionRuntime(function_id, row.app_id, row.name, definition)
            if definition.parent_function_id:
                self.bound[_bind_key(definition)] = function_id
        return fn

    def app_functions(self, app_id: str, *, include_retired: bool = False) -> list[FunctionRuntime]:
        """The functions and classes the app defines (not the parameterized instances of its classes)."""
        found = [self._function(row.function_id) for row in self.store.app_functions(app_id)]
        return [fn for fn in found if not fn.definition.parent_function_id and (include_retired or not fn.retired)]

    def function_by_name(self, app_id: str, name: str) -> FunctionRuntime | None:
        return next((fn for fn in self.app_functions(app_id) if fn.name == name), None)

    def bind_function(self, parent_id: str, params: bytes, options: api_pb2.FunctionDefinition) -> str:
        """The function id of a class instance with these parameters (and options): one pool each."""
        parent = self._function(parent_id)
        if not parent.definition.is_class:
            raise Invalid(f"{parent.name} is not a class; only classes take parameters")
        definition = bound_definition(parent.definition, options, params, parent_id)
        key = _bind_key(definition)
        if key in self.bound:
            return self.bound[key]
        function_id = new_id("fu")
        self.store.create_function(
            FunctionRow(function_id, parent.app_id, parent.name, definition.SerializeToString(), time.time())
        )
        fn = self.functions[function_id] = FunctionRuntime(function_id, parent.app_id, parent.name, definition)
        fn.version = parent.version
        self.bound[key] = function_id
        return function_id

    def rebind_children(self, parent: FunctionRuntime) -> None:
        """After a new deployment of a class, its parameterized instances run the new code too."""
        for child in self.functions.values():
            if child.definition.parent_function_id == parent.function_id:
                child.definition = bound_definition(
                    parent.definition, child.definition, child.definition.bound_params, parent.function_id
                )
                self.store.update_function(child.function_id, child.definition.SerializeToString())
                child.version = parent.version
                child.init_failure = None
                child.inputs_ready.fire()

    # ------------------------------------------------------------------ calls and inputs

    def start_call(
        self,
        function_id: str,
        kind: int,
        inputs: Iterable[api_pb2.FunctionInput],
        complete: bool,
        schedule_fire: float | None = None,
    ) -> Call:
        fn = self._function(function_id)
        app = self.app(fn.app_id)
        if not app.live:
            raise Invalid(f"app {app.name} is stopped; function {fn.name} cannot be called")
        if fn.retired:
            raise Invalid(f"function {fn.name} was removed from app {app.name} by deployment v{app.version}")
        self._check_loadable(fn)
        call = Call(new_id("fc"), function_id, kind)
        queued = self._queued(call, inputs)
        call.num_inputs, call.inputs_complete = len(queued), complete
        self.store.create_call(
            CallRow(call.call_id, function_id, kind, call.num_inputs, complete, False, time.time()),
            [self._input_row(q) for q in queued],
            schedule_fire,
        )
        self.calls[call.call_id] = call
        self._enqueue(fn, queued)
        return call

    def get_call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            row = self.store.get_call(call_id)
            if row is None:
                raise NotFound(f"function call {call_id} not found (unknown, or older than the retention window)")
            call = Call(row.call_id, row.function_id, row.kind, row.num_inputs, row.inputs_complete, row.cancelled)
            call.num_final = self.store.count_final_outputs(call_id)
            call.memory_floor = self.store.max_cursor()  # older outputs are read from the store
            self.calls[call_id] = call
        call.last_access = time.monotonic()
        return call

    def add_inputs(self, call: Call, inputs: Iterable[api_pb2.FunctionInput], complete: bool) -> None:
        # Clients number inputs 0, 1, ...: a batch resent after a lost answer (server restart) is skipped.
        fresh = [i for i in inputs if i.idx >= call.num_inputs]
        if call.inputs_complete:
            if not fresh:
                return
            raise Invalid(f"call {call.call_id} takes no more inputs")
        fn = self._function(call.function_id)
        self._check_loadable(fn)
        queued = self._queued(call, fresh)
        self.store.add_inputs(
            call.call_id,
            [self._input_row(q) for q in queued],
            num_inputs=call.num_inputs + len(queued),
            inputs_complete=complete,
        )
        call.num_inputs += len(queued)
        call.inputs_complete = complete
        self._enqueue(fn, queued)
        if call.done:
            call.changed.fire()

    def _check_loadable(self, fn: FunctionRuntime) -> None:
        if fn.init_failure is not None:
            raise Invalid(f"function {fn.name} failed to start: {fn.init_failure.exception_repr}")
        reason = self.unplaceable(fn)
        if reason is not None:
            raise Invalid(reason)

    def unplaceable(self, fn: FunctionRuntime) -> str | None:
        """Why no live worker could ever run a container of `fn` (None while none is registered:
        one may yet come), so that such calls fail with a reason instead of waiting forever."""
        alive = [w for w in self.workers.values() if w.alive]
        cpu = fn.definition.cpu or config.DEFAULT_CPU
        memory = fn.definition.memory_mb or config.DEFAULT_MEMORY_MB
        wants_gpu = gpu.parse(fn.definition.gpu)
        if not alive or any(
            w.cpu * config.WORKER_CPU_OVERCOMMIT >= cpu
            and w.memory_mb >= memory
            and (not wants_gpu or gpu.pick(wants_gpu, w.gpus, set()) is not None)
            for w in alive
        ):
            return None
        if wants_gpu:
            offered = sorted({name for w in alive for name in w.gpus}) or ["none"]
            wanted = fn.definition.gpu
            return f"no worker can run {fn.name}: it asks for gpu={wanted!r}; the workers' GPUs: {', '.join(offered)}"
        most_cpu = max(w.cpu for w in alive) * config.WORKER_CPU_OVERCOMMIT
        most_memory = max(w.memory_mb for w in alive)
        return (
            f"no worker can run {fn.name}: it asks for cpu={cpu:g} and memory={memory:,} MiB, "
            f"and the largest worker offers cpu={most_cpu:g} and memory={most_memory:,} MiB"
        )

    def fail_unplaceable(self, fn: FunctionRuntime, reason: str) -> None:
        """Fail the queued inputs of a function no worker can run (the workers that could have left)."""
        items = list(fn.queue)
        fn.queue.clear()
        self._fail_inputs(items, api_pb2.OUTPUT_STATUS_INIT_FAILURE, reason, serialize(InvalidError(reason)))

    @staticmethod
    def _queued(call: Call, inputs: Iterable[api_pb2.FunctionInput]) -> list[QueuedInput]:
        return [
            QueuedInput(new_id("in"), call.call_id, call.function_id, i.idx, i.args, call.kind, 0, i.method_name)
            for i in inputs
        ]

    @staticmethod
    def _input_row(q: QueuedInput) -> InputRow:
        return InputRow(q.input_id, q.call_id, q.function_id, q.idx, q.args.data, q.args.blob_id, 0, q.method_name)

    def _enqueue(self, fn: FunctionRuntime, queued: list[QueuedInput]) -> None:
        if queued:
            fn.queue.extend(queued)
            fn.inputs_ready.fire()
            if not any(c.waiting for c in fn.live_containers()):  # a cold start: now, not at the next tick
                self.scale_needed.fire()

    def _read_outputs(self, call: Call, after_cursor: int, limit: int) -> list[OutputRow]:
        if after_cursor < call.memory_floor:
            return self.store.outputs_after(call.call_id, after_cursor, limit)
        # The reader has everything up to after_cursor: forget it.
        drop = 0
        while drop < len(call.recent) and call.recent[drop].cursor <= after_cursor:
            drop += 1
        if drop:
            del call.recent[:drop]
            call.memory_floor = after_cursor
        return call.recent[:limit]

    async def wait_outputs(
        self, call_id: str, after_cursor: int, max_outputs: int, timeout: float
    ) -> tuple[list[OutputRow], Call]:
        call = self.get_call(call_id)
        deadline = time.monotonic() + timeout
        while True:
            event = call.changed.event
            rows = self._read_outputs(call, after_cursor, max_outputs)
            remaining = deadline - time.monotonic()
            if rows or call.done or remaining <= 0:
                return rows, call
            await call.changed.wait(event, remaining)

    def forget_idle_calls(self, idle_seconds: float) -> None:
        """Drop finished calls nobody asked about for a while from memory (the store keeps them)."""
        cutoff = time.monotonic() - idle_seconds
        for call_id in [c.call_id for c in self.calls.values() if c.done and c.last_access < cutoff]:
            del self.calls[call_id]

    def cancel_call(self, call_id: str) -> None:
        call = self.get_call(call_id)
        if call.cancelled or call.done:
            return
        call.cancelled = True
        self.store.update_call(call_id, num_inputs=call.num_inputs, inputs_complete=True, cancelled=True)
        call.inputs_complete = True
        fn = self._function(call.function_id)
        doomed = [item for item in fn.queue if item.call_id == call_id]
        doomed += [item for _, _, item in fn.delayed if item.call_id == call_id]
        fn.queue = type(fn.queue)(item for item in fn.queue if item.call_id != call_id)
        fn.delayed = [entry for entry in fn.delayed if entry[2].call_id != call_id]
        heapq.heapify(fn.delayed)
        for container in fn.live_containers():
            running = [item for item in container.held.values() if item.call_id == call_id]
            if running:
                for item in running:
                    del container.held[item.input_id]
                doomed += running
                # Its inputs may be mid-run: the only way to stop user code is to stop its container.
                self.stop_container(container)
        self._fail_inputs(doomed, api_pb2.OUTPUT_STATUS_CANCELLED, "the call was cancelled")
        call.changed.fire()

    def _fail_inputs(self, items: list[QueuedInput], status: int, message: str, error: bytes = b"") -> None:
        """Final outputs for `items`; `error`: the pickled exception the callers raise (default: from `message`)."""
        rows = [OutputRow(i.call_id, i.input_id, i.idx, status, error, "", message, "", final=True) for i in items]
        self._record_outputs(rows)

    def _record_outputs(self, rows: list[OutputRow]) -> None:
        if not rows:
            return
        self.store.add_outputs(rows)
        touched: set[str] = set()
        for row in rows:
            call = self.calls.get(row.call_id)
            if call is not None:
                call.num_final += row.final
                call.recent.append(row)
                touched.add(row.call_id)
        for call_id in touched:
            self.calls[call_id].changed.fire()

    def _retry_or_fail(self, item: QueuedInput, row: OutputRow) -> OutputRow | None:
        """Schedule a retry if the function's policy allows one; otherwise the row is final."""
        fn = self._function(item.function_id)
        policy = fn.definition.retries
        call = self.calls.get(item.call_id)
        if call is None or call.cancelled or item.attempt >= policy.max_retries:
            return row
        delay = policy.initial_delay * (policy.backoff_coefficient**item.attempt)
        if policy.max_delay > 0:
            delay = min(delay, policy.max_delay)
        item.attempt += 1
        heapq.heappush(fn.delayed, (time.monotonic() + delay, next(_retry_tiebreak), item))
        log.info("retrying input %s of %s (attempt %d) in %.1fs", item.input_id, fn.name, item.attempt, delay)
        return None

    def promote_due_retries(self) -> None:
        now = time.monotonic()
        for fn in self.functions.values():
            moved = False
            while fn.delayed and fn.delayed[0][0] <= now:
                fn.queue.appendleft(heapq.heappop(fn.delayed)[2])
                moved = True
            if moved:
                fn.inputs_ready.fire()

    # ------------------------------------------------------------------ containers

    def container_by_token(self, token: str) -> Container | None:
        container_id = self.container_tokens.get(token)
        return self.containers.get(container_id) if container_id else None

    def container_hello(self, container: Container) -> FunctionRuntime:
        if container.state == ContainerState.STARTING:
            container.advance(ContainerState.RUNNING)
        container.idle_since = time.monotonic()
        fn = self._function(container.function_id)
        fn.start_failures = 0
        return fn

    def _count_start_failure(self, fn: FunctionRuntime, exit_code: int, reason: str) -> None:
        """Containers that die before they can even say hello (a runtime that cannot start them,
        an image without the function's Python) would be restarted forever: after a few in a
        row, the function fails its calls with what happened."""
        fn.start_failures += 1
        if fn.start_failures < config.CONTAINER_START_FAILURES or fn.init_failure is not None:
            return
        message = (
            f"containers of {fn.name} exit before they start (the last {fn.start_failures} in a row; "
            f"exit code {exit_code}{f', {reason}' if reason else ''}); their output is in the app's logs"
        )
        log.warning("%s", message)
        error = api_pb2.Payload(data=serialize(ExecutionError(message)))
        self._fail_function(fn, api_pb2.ContainerInitFailedRequest(exception=error, exception_repr=message), [])

    async def take_inputs(self, container: Container, max_inputs: int, timeout: float) -> list[QueuedInput] | None:
        """Hand inputs to a container; None means: shut down."""
        fn = self._function(container.function_id)
        deadline = time.monotonic() + timeout
        container.waiting = True
        try:
            while True:
                if not container.live or not self.app(fn.app_id).live or container.version < fn.version:
                    return None  # stopped, or a newer deployment replaced its code
                event = fn.inputs_ready.event
                if fn.queue and fn.queue[0].suspect:
                    if not container.held:  # a suspect runs alone, so that its fate is its own
                        item = fn.queue.popleft()
                        container.held[item.input_id] = item
                        return [item]
                elif fn.queue:
                    if fn.definition.batch_max_size:
                        await self._let_batch_fill(fn, min(max_inputs, fn.definition.batch_max_size))
                        share = len(fn.queue)
                    else:  # share a deep queue fairly between the live containers
                        share = math.ceil(len(fn.queue) / max(1, len(fn.live_containers())))
                    batch: list[QueuedInput] = []
                    while fn.queue and not fn.queue[0].suspect and len(batch) < min(max(1, max_inputs), share):
                        batch.append(fn.queue.popleft())
                    for item in batch:
                        container.held[item.input_id] = item
                    if batch:
                        return batch
                now = time.monotonic()
                window = fn.definition.scaledown_window or config.DEFAULT_SCALEDOWN_WINDOW
                idle_for = now - container.idle_since
                if (
                    not container.held
                    and idle_for >= window
                    and len(fn.live_containers()) > fn.definition.min_containers
                ):
                    return None
                wait = min(deadline - now, window - idle_for) if not container.held else deadline - now
                if wait <= 0:
                    return []
                await fn.inputs_ready.wait(event, wait)
        finally:
            container.waiting = False

    async def _let_batch_fill(self, fn: FunctionRuntime, size: int) -> None:
        """@batched: once one input waits, give others up to batch_wait_ms to join it."""
        deadline = time.monotonic() + fn.definition.batch_wait_ms / 1000
        while 0 < len(fn.queue) < size and (remaining := deadline - time.monotonic()) > 0:
            await fn.inputs_ready.wait(fn.inputs_ready.event, remaining)

    async def put_outputs(
        self, container: Container, outputs: Iterable[api_pb2.FunctionOutput], released: Iterable[str]
    ) -> None:
        """Resumes once the outputs are in the store (together with other containers' outputs
        that arrived meanwhile: `GroupCommit`)."""
        rows: list[OutputRow] = []
        fn = self._function(container.function_id)
        now = time.monotonic()
        for out in outputs:
            item = container.held.get(out.input_id)
            if item is None:
                continue  # late or duplicate: the input was reassigned, cancelled or already answered
            row = OutputRow(
                item.call_id,
                item.input_id,
                item.idx,
                out.status,
                out.data.data,
                out.data.blob_id,
                out.exception_repr,
                out.traceback,
                final=out.status != api_pb2.OUTPUT_STATUS_GENERATOR_ITEM,
            )
            if row.final:
                del container.held[out.input_id]
                container.served += 1
                fn.finished.append(now)
                if out.status in FINAL_FAILURES:
                    row = self._retry_or_fail(item, row)  # type: ignore[assignment]
            if row is not None:
                rows.append(row)
        self._requeue(container, released)
        if not container.held:
            container.idle_since = time.monotonic()
        if rows:
            await self._output_commit.add(rows)

    def _requeue(self, container: Container, input_ids: Iterable[str]) -> None:
        fn = self._function(container.function_id)
        returned = [container.held.pop(i) for i in input_ids if i in container.held]
        if returned:
            fn.queue.extendleft(reversed(returned))
            fn.inputs_ready.fire()

    def container_init_failed(self, container: Container, request: api_pb2.ContainerInitFailedRequest) -> None:
        """The function cannot be loaded: fail everything queued for it instead of restarting forever."""
        held = list(container.held.values())
        container.held.clear()
        self._fail_function(self._function(container.function_id), request, held)

    def _fail_function(
        self, fn: FunctionRuntime, request: api_pb2.ContainerInitFailedRequest, held: list[QueuedInput]
    ) -> None:
        fn.init_failure = request
        doomed = held + list(fn.queue) + [item for _, _, item in fn.delayed]
        fn.queue.clear()
        fn.delayed.clear()
        rows = [
            OutputRow(
                i.call_id,
                i.input_id,
                i.idx,
                api_pb2.OUTPUT_STATUS_INIT_FAILURE,
                request.exception.data,
                request.exception.blob_id,
                request.exception_repr,
                request.traceback,
                final=True,
            )
            for i in doomed
        ]
        self._record_outputs(rows)

    def stop_container(self, container: Container) -> None:
        if not container.live:
            return
        container.advance(ContainerState.STOPPING)
        worker = self.workers.get(container.worker_id)
        if worker is not None:
            worker.to_stop.append(container.container_id)
            worker.commands.fire()
        self._function(container.function_id).inputs_ready.fire()  # wake it if parked

    def container_exited(self, container_id: str, exit_code: int, reason: str, *, blame_inputs: bool = True) -> None:
        """Account for a container's end. With `blame_inputs`, an input it died running counts as a
        failed attempt; without (its worker vanished), every input it held simply runs again."""
        container = self.containers.get(container_id)
        if container is None or container.state == ContainerState.EXITED:
            return
        never_started = container.state == ContainerState.STARTING  # it exited before saying hello
        container.advance(ContainerState.EXITED)
        self.container_tokens.pop(container.token, None)
        held = list(container.held.values())
        container.held.clear()
        if never_started and blame_inputs and container.function_id in self.functions:
            self._count_start_failure(self.functions[container.function_id], exit_code, reason)
        if held:
            fn = self._function(container.function_id)
            if len(held) == 1 and blame_inputs:
                running, untouched = held, []
            else:
                # Several inputs were out and some may have finished with their outputs unsent:
                # which one killed it is unknown. Each runs again alone, free of charge; one that
                # kills a container on its own is then the culprit.
                running, untouched = [], held
                for item in untouched:
                    item.suspect = blame_inputs
            if untouched:
                fn.queue.extendleft(reversed(untouched))
                fn.inputs_ready.fire()
            message = f"the container running {fn.name} exited with code {exit_code}"
            if reason:
                message += f" ({reason})"
            message += " before the input finished"
            rows = [
                self._retry_or_fail(
                    item,
                    OutputRow(
                        item.call_id,
                        item.input_id,
                        item.idx,
                        api_pb2.OUTPUT_STATUS_CONTAINER_DIED,
                        b"",
                        "",
                        message,
                        "",
                        final=True,
                    ),
                )
                for item in running
            ]
            self._record_outputs([row for row in rows if row is not None])
        worker = self.workers.get(container.worker_id)
        if worker is not None:
            worker.containers.pop(container_id, None)
        for hook in self.container_exit_hooks:
            hook(container, exit_code, reason)
        app = self.apps.get(container.app_id)
        if app is not None:
            self._wake_log_followers(app)

    # ------------------------------------------------------------------ workers

    def register_worker(self, request: api_pb2.WorkerRegisterRequest) -> str:
        worker_id = request.worker_id or new_id("wk")
        worker = Worker(worker_id, request.hostname, request.cpu, int(request.memory_mb), gpus=list(request.gpus))
        self.workers[worker_id] = worker
        log.info(
            "worker %s registered: %s, %.1f cpu, %d MiB", worker_id, request.hostname, request.cpu, request.memory_mb
        )
        return worker_id

    async def poll_worker(self, request: api_pb2.WorkerPollRequest) -> api_pb2.WorkerPollResponse:
        worker = self.workers.get(request.worker_id)
        if worker is None or not worker.alive:
            return api_pb2.WorkerPollResponse(reregister=True, stop_container_ids=list(request.running_container_ids))
        worker.last_seen = time.monotonic()
        unknown = [c for c in request.running_container_ids if c not in worker.containers]
        if not worker.to_start and not worker.to_stop and not worker.to_attach and not unknown:
            # Held at most a third of WORKER_TIMEOUT, so that a live worker is never mistaken for a dead one.
            await worker.commands.wait(worker.commands.event, min(request.timeout, config.WORKER_TIMEOUT / 3))
        worker.last_seen = time.monotonic()
        response = api_pb2.WorkerPollResponse(
            start=worker.to_start, stop_container_ids=worker.to_stop + unknown, attach_container_ids=worker.to_attach
        )
        worker.to_start, worker.to_stop, worker.to_attach = [], [], []
        return response

    def evict_idle_container(self, needed_by: FunctionRuntime) -> bool:
        """Stop the longest-idle warm container of another function to make room; True if one was."""
        if any(w.alive and w.starting() >= _max_starting(w) for w in self.workers.values()):
            return False  # room is only short of start slots, which free up by themselves
        candidates = [
            c
            for c in self.containers.values()
            if c.state == ContainerState.RUNNING
            and c.waiting
            and not c.held
            and c.function_id != needed_by.function_id
            and len(self._function(c.function_id).live_containers())
            > self._function(c.function_id).definition.min_containers
        ]
        if not candidates:
            return False
        victim = min(candidates, key=lambda c: c.idle_since)
        log.info("evicting idle container %s to make room for %s", victim.container_id, needed_by.name)
        self.stop_container(victim)
        return True

    def place_container(
        self, fn: FunctionRuntime, *, container_id: str = "", sandbox: bool = False
    ) -> Container | None:
        """Reserve room for one container of `fn` on the worker with the most free cpu. A
        sandbox's container (sandboxes.py) gets no token: it runs untrusted code."""
        cpu = fn.definition.cpu or config.DEFAULT_CPU
        memory = fn.definition.memory_mb or config.DEFAULT_MEMORY_MB
        wants_gpu = gpu.parse(fn.definition.gpu)
        best: Worker | None = None
        best_free = -1.0
        devices: tuple[int, ...] = ()
        for worker in self.workers.values():
            if not worker.alive or worker.starting() >= _max_starting(worker):
                continue
            used_cpu, used_mem = worker.reserved()
            free_cpu = worker.cpu * config.WORKER_CPU_OVERCOMMIT - used_cpu
            if free_cpu >= cpu and worker.memory_mb - used_mem >= memory and free_cpu > best_free:
                picked = gpu.pick(wants_gpu, worker.gpus, worker.gpus_taken()) if wants_gpu else ()
                if picked is not None:
                    best, best_free, devices = worker, free_cpu, picked
        if best is None:
            return None
        container = Container(
            container_id or new_id("ta"),
            fn.function_id,
            fn.app_id,
            best.worker_id,
            secrets.token_urlsafe(24),
            cpu,
            memory,
            version=fn.version,
            gpu_devices=devices,
        )
        log.info("placing container %s of %s on worker %s", container.container_id, fn.name, best.worker_id)
        self.containers[container.container_id] = container
        if not sandbox:
            self.container_tokens[container.token] = container.container_id
        fn.containers[container.container_id] = container
        best.containers[container.container_id] = container
        env = {config.ENV_BLOCK_NETWORK: "1"} if fn.definition.block_network else {}
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, devices))
        for hook in self.container_env_hooks:  # resolved now, so a rotated secret reaches new containers
            env.update(hook(fn))
        best.to_start.append(
            api_pb2.ContainerSpec(
                container_id=container.container_id,
                function_id=fn.function_id,
                function_name=fn.name,
                app_id=fn.app_id,
                task_token="" if sandbox else container.token,
                sandbox=sandbox,
                cpu=cpu,
                # A hard limit only when the function asked for memory; the default is a
                # reservation for placement, not a cap (a bare interpreter would hit 128 MiB).
                memory_mb=fn.definition.memory_mb,
                env=env,
                image=fn.definition.image if fn.definition.HasField("image") else None,
                image_secrets=build_secrets(fn.definition, self.secret_variables),
            )
        )
        best.commands.fire()
        return container

    # ------------------------------------------------------------------ logs

    def publish_logs(self, lines: Iterable[api_pb2.LogLine]) -> None:
        rows: list[LogRow] = []
        for line in lines:
            container = self.containers.get(line.container_id)
            if container is None:
                continue
            app = self.apps.get(container.app_id)
            if app is None:
                continue
            line.function_name = self._function(container.function_id).name
            rows.append(LogRow(app.app_id, line.timestamp, line.function_name, line.container_id, line.fd, line.data))
            for queue in app.log_subscribers:
                queue.put_nowait(line)
        self.store.add_logs(rows)

    def system_log(self, fn: FunctionRuntime, text: str) -> None:
        """A line in the app's logs from the platform itself (e.g. a schedule firing)."""
        app = self.app(fn.app_id)
        now = time.time()
        line = api_pb2.LogLine(function_name=fn.name, container_id="nano-modal", fd=1, data=text + "\n", timestamp=now)
        self.store.add_logs([LogRow(app.app_id, now, fn.name, line.container_id, 1, line.data)])
        for queue in app.log_subscribers:
            queue.put_nowait(line)

    def _wake_log_followers(self, app: App) -> None:
        for queue in app.log_subscribers:
            queue.put_nowait(None)

    def app_finished(self, app: App) -> bool:
        """Stopped, and every container it had has exited (so its logs are all in)."""
        if app.live:
            return False
        return not any(c.state != ContainerState.EXITED for c in self.containers.values() if c.app_id == app.app_id)

    async def follow_logs(self, app_id: str) -> AsyncIterator[list[api_pb2.LogLine]]:
        import asyncio  # local: only this generator needs a queue

        app = self.app(app_id)
        queue: asyncio.Queue[api_pb2.LogLine | None] = asyncio.Queue()
        app.log_subscribers.append(queue)
        try:
            while True:
                batch: list[api_pb2.LogLine] = []
                try:
                    first = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    first = None
                if first is not None:
                    batch.append(first)
                while not queue.empty():
                    line = queue.get_nowait()
                    if line is not None:
                        batch.append(line)
                if batch:
                    yield batch
                if self.app_finished(app) and queue.empty():
                    return
        finally:
            app.log_subscribers.remove(queue)
