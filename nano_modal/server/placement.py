"""Workers and placement: which worker runs a new container, and room for it."""

from __future__ import annotations

import logging
import math
import secrets
import time

from .. import _gpu as gpu
from .. import config
from ..exception import InvalidError
from ..proto import api_pb2
from ..serialization import serialize
from . import workspace_limits
from .control_base import ControlBase, new_id
from .images import build_secrets, for_worker
from .state import Container, ContainerState, FunctionRuntime, Worker

log = logging.getLogger("nano_modal.server")


def reserved_size(definition: api_pb2.FunctionDefinition) -> tuple[float, int]:
    """(cpu, memory MiB) one container of this definition reserves on its worker and workspace."""
    return definition.cpu or config.DEFAULT_CPU, definition.memory_mb or config.DEFAULT_MEMORY_MB


def _max_starting(worker: Worker) -> int:
    """Containers a worker may be starting at once: starts are cpu-heavy (a fresh interpreter)."""
    return max(2, int(worker.cpu * 2))


# Runtimes that give each container a network namespace of its own, where an outbound allowlist
# is routes (worker/network.py) or, under gVisor, moot (no outbound network at all yet).
ISOLATED_NETWORK_RUNTIMES = frozenset({"bwrap", "gvisor"})


def enforces_outbound_allowlist(worker: Worker) -> bool:
    return bool(worker.runtimes) and set(worker.runtimes) <= ISOLATED_NETWORK_RUNTIMES


class Placement(ControlBase):
    """Registered workers, their commands, and where containers go."""

    def worker_runtimes(self) -> list[str]:
        """How the live workers isolate containers, each runtime once."""
        return sorted({r for w in self.workers.values() if w.alive for r in w.runtimes})

    def register_worker(self, request: api_pb2.WorkerRegisterRequest) -> str:
        worker_id = request.worker_id or new_id("wk")
        worker = Worker(worker_id, request.hostname, request.cpu, int(request.memory_mb), gpus=list(request.gpus))
        worker.runtimes = list(request.runtimes)
        self.workers[worker_id] = worker
        self.worker_registrations += 1
        log.info(
            "worker %s registered: %s, %.1f cpu, %d MiB", worker_id, request.hostname, request.cpu, request.memory_mb
        )
        return worker_id

    async def poll_worker(self, request: api_pb2.WorkerPollRequest) -> api_pb2.WorkerPollResponse:
        worker = self.workers.get(request.worker_id)
        if worker is None or not worker.alive:
            return api_pb2.WorkerPollResponse(reregister=True, stop_container_ids=list(request.running_container_ids))
        worker.last_seen = time.monotonic()
        if request.cpu_measured:
            self.record_cpu(worker, request.host_cpu_busy, dict(request.container_cpu_demand))
        unknown = [c for c in request.running_container_ids if not self.containers.is_on_worker(worker.worker_id, c)]
        if not worker.to_start and not worker.to_stop and not worker.to_attach and not unknown:
            # Held at most a third of WORKER_TIMEOUT, so that a live worker is never mistaken for a dead one.
            await worker.commands.wait(worker.commands.event, min(request.timeout, config.WORKER_TIMEOUT / 3))
        worker.last_seen = time.monotonic()
        response = api_pb2.WorkerPollResponse(
            start=worker.to_start, stop_container_ids=worker.to_stop + unknown, attach_container_ids=worker.to_attach
        )
        worker.to_start, worker.to_stop, worker.to_attach = [], [], []
        return response

    def record_cpu(self, worker: Worker, host_busy: float, demands: dict[str, float]) -> None:
        """A worker's CPU report: its host's busy cores and each of its containers' demand."""
        worker.host_cpu_busy = host_busy
        for container_id, demand in demands.items():
            container = self.containers.get(container_id)
            if container is None or container.worker_id != worker.worker_id:
                continue
            # Only a container that held inputs at this report and the one before (busy, as far
            # as the server can tell, the whole time) says what its function is like: one idle
            # between two maps demands nothing, and would make a CPU-bound function look I/O-bound.
            if container.held and container.held_at_report:
                container.cpu_demand = demand
            container.held_at_report = bool(container.held)

    def cpu_bound(self, fn: FunctionRuntime) -> bool | None:
        """Whether `fn`'s containers are CPU-bound: their mean demand, measured while they were
        busy (`record_cpu`), is at least CPU_BOUND_DEMAND of a core. None until one is measured."""
        measured = [c.cpu_demand for c in self.live_containers(fn) if c.cpu_demand is not None]
        if not measured:
            return None
        return sum(measured) / len(measured) >= config.CPU_BOUND_DEMAND

    def cpu_bound_cap(self, fn: FunctionRuntime) -> int | None:
        """Most live containers `fn` should have: one per core of the live workers while it is (or
        may be) CPU-bound, since more only share the same cores and pay their start-ups and context
        switches; None (no cap) once its containers are seen waiting on I/O."""
        if self.cpu_bound(fn) is False:
            return None
        cores = sum(w.cpu for w in self.workers.values() if w.alive)
        return max(1, math.floor(cores / max(1.0, fn.definition.cpu or config.DEFAULT_CPU)))

    def cpu_committed(self, worker: Worker) -> float:
        """Cores the worker's containers demand: measured, or a whole core for a container of a
        function not known to be I/O-bound that has not been measured yet (it may be CPU-bound),
        and is starting (for work) or busy. A warm container holding nothing demands nothing now
        (counted, two of them kept every function from a second container on 2 cores)."""
        total = 0.0
        for c in self.containers.on_worker(worker.worker_id):
            if not c.live or (not c.held and c.state == ContainerState.RUNNING):
                continue
            if c.cpu_demand is not None:
                total += c.cpu_demand if c.held else 0.0
            else:
                fn = self.functions.get(c.function_id)
                total += 0.0 if fn is None or self.cpu_bound(fn) is False else 1.0
        return total

    def saturated(self, worker: Worker) -> bool:
        """No room for another CPU-bound container: the worker's containers demand its cores."""
        return self.cpu_committed(worker) >= worker.cpu * config.HOST_SATURATED

    def unplaceable(self, fn: FunctionRuntime) -> str | None:
        """Why no live worker could ever run a container of `fn` (None while none is registered:
        one may yet come), so that such calls fail with a reason instead of waiting forever."""
        alive = [w for w in self.workers.values() if w.alive]
        cpu, memory = reserved_size(fn.definition)
        workspace = self.app(fn.app_id).workspace
        over = workspace_limits.too_big(workspace, self.workspace_limits(workspace), cpu, memory)
        if over is not None:
            return f"{fn.name} can never run: {over}"
        if fn.definition.outbound_cidr_allowlist and alive and not any(map(enforces_outbound_allowlist, alive)):
            return (
                f"{fn.name} has an outbound_cidr_allowlist, which no worker here can enforce: it needs the "
                f"bwrap or gvisor runtime (the process runtime shares the host's network)"
            )
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

    def workspace_full(self, workspace: str, cpu: float, memory: int) -> str | None:
        """Which of the workspace's limits one more container of this size would pass, or None."""
        limits = self.workspace_limits(workspace)
        if not limits.any:
            return None
        return workspace_limits.full(workspace, limits, self.containers.usage(workspace), cpu, memory)

    def evict_idle_container(self, needed_by: FunctionRuntime) -> bool:
        """Stop the longest-idle warm container of another function to make room; True if one was.
        When the room is short in the function's workspace (its limits), only one of its own.
        Never a Server session's: the container is the session (evicted, it ended with a 404)."""
        if any(w.alive and self.containers.starting(w.worker_id) >= _max_starting(w) for w in self.workers.values()):
            return False  # room is only short of start slots, which free up by themselves
        workspace = self.app(needed_by.app_id).workspace
        cpu, memory = reserved_size(needed_by.definition)
        own_only = self.workspace_full(workspace, cpu, memory) is not None
        candidates = [
            c
            for c in self.containers.active()
            if (not own_only or c.workspace == workspace)
            and c.state == ContainerState.RUNNING
            and c.waiting
            and not c.held
            and c.function_id != needed_by.function_id
            and len(self.containers.live_of_function(c.function_id))
            > self._function(c.function_id).definition.min_containers
            and not self._function(c.function_id).definition.web.sessioned
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
        cpu, memory = reserved_size(fn.definition)
        workspace = self.app(fn.app_id).workspace
        if self.workspace_full(workspace, cpu, memory) is not None:
            return None
        wants_gpu = gpu.parse(fn.definition.gpu)
        fitting: list[tuple[float, Worker]] = []  # room from the containers' tallies: no walk over them
        for worker in self.workers.values():
            if not worker.alive or self.containers.starting(worker.worker_id) >= _max_starting(worker):
                continue
            if fn.definition.outbound_cidr_allowlist and not enforces_outbound_allowlist(worker):
                continue
            used_cpu, used_mem = self.containers.reserved(worker.worker_id)
            free_cpu = worker.cpu * config.WORKER_CPU_OVERCOMMIT - used_cpu
            if free_cpu >= cpu and worker.memory_mb - used_mem >= memory:
                fitting.append((free_cpu, worker))
        fitting.sort(key=lambda entry: -entry[0])  # most free first; stable: ties keep the workers' order
        # A function that is (or may be) CPU-bound gets no container on a saturated worker, unless
        # it has none yet; one seen waiting on I/O may overcommit the cores (`WORKER_CPU_OVERCOMMIT`).
        # Saturation walks a worker's containers: asked of the best candidates only, in order.
        check_saturation = self.cpu_bound(fn) is not False and bool(self.live_containers(fn))
        best: Worker | None = None
        devices: tuple[int, ...] = ()
        for _, worker in fitting:
            if check_saturation and self.saturated(worker):
                continue
            picked = gpu.pick(wants_gpu, worker.gpus, self.containers.gpus_taken(worker.worker_id)) if wants_gpu else ()
            if picked is not None:
                best, devices = worker, picked
                break
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
            workspace=workspace,
        )
        log.info("placing container %s of %s on worker %s", container.container_id, fn.name, best.worker_id)
        self.containers.add(container, with_token=not sandbox)
        env = {config.ENV_BLOCK_NETWORK: "1"} if fn.definition.block_network else {}
        if fn.definition.outbound_cidr_allowlist:
            env[config.ENV_OUTBOUND_ALLOWLIST] = ",".join(fn.definition.outbound_cidr_allowlist)
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
                disk_mb=fn.definition.ephemeral_disk_mb,
                env=env,
                image=for_worker(fn.definition.image, workspace) if fn.definition.HasField("image") else None,
                image_secrets=build_secrets(fn.definition, self.secret_variables),
            )
        )
        best.commands.fire()
        return container
