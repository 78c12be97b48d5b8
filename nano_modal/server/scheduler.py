"""Autoscaler and reaper: one pass every SCHEDULER_TICK seconds.

Each pass: move due retries back to their queues; declare silent workers, containers
that never started, and abandoned ephemeral apps dead; then, per function, start
containers for inputs that no idle container can take, within `max_containers`,
keeping `min_containers` warm. Idle containers scale themselves down (see
ControlPlane.take_inputs), so this loop never has to pick a victim.

Each step of a pass (a schedule, a worker, a container, an app, a function) fails alone:
its error is logged (at most once a minute per step, see `FailureLog`) and the pass goes
on, so that one broken function cannot stop the reaper and the autoscaler for everyone.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Iterator

from .. import config
from .control import ControlPlane
from .schedules import ScheduleRunner
from .state import Container, ContainerState, FunctionRuntime

log = logging.getLogger("nano_modal.server")


# Seconds between two log lines about the same failing step: at one pass every 50 ms, a step
# that fails on each pass would otherwise write 1,200 lines a minute.
FAILURE_LOG_INTERVAL = 60.0
# Seconds between two walks over every container for missed heartbeats and slow starts: their
# limits are tens of seconds, and a walk over 100,000 containers costs ~20 ms, too much for
# every 50 ms pass (bench/bench_control_scale.py).
CONTAINER_SWEEP_INTERVAL = 1.0


class FailureLog:
    """Rate-limited logging of the scheduler's failing steps, by what failed."""

    def __init__(self, interval: float = FAILURE_LOG_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}  # step -> (when last logged, failures unlogged since)

    @contextlib.contextmanager
    def isolated(self, step: str) -> Iterator[None]:
        """Run a step; an exception it raises is logged (rate-limited) and swallowed."""
        try:
            yield
        except Exception:
            self.failed(step)

    def failed(self, step: str) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(step, (-math.inf, 0))
        if now - last < self.interval:
            self._last[step] = (last, skipped + 1)
            return
        self._last[step] = (now, 0)
        more = f" (and {skipped} more times since the last report)" if skipped else ""
        log.exception("scheduler: %s failed%s; skipping it this pass", step, more)


PASS_TIMES_KEPT = 200  # recent pass durations kept for the metrics (a soak shows whether they grow)


class Scheduler:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.failures = FailureLog()
        self.schedules = ScheduleRunner(control, self.failures)
        self.pass_seconds: deque[float] = deque(maxlen=PASS_TIMES_KEPT)
        self._last_sweep = -math.inf

    async def run(self) -> None:
        while True:
            woken = self.control.scale_needed.event  # taken first: inputs that come during the pass count
            started = time.perf_counter()
            with self.failures.isolated("a scheduler pass"):
                self.tick()
            self.pass_seconds.append(time.perf_counter() - started)
            await self.control.scale_needed.wait(woken, config.SCHEDULER_TICK)

    def tick(self) -> None:
        with self.failures.isolated("moving due retries"):
            self.control.promote_due_retries()
        self.schedules.tick()
        self.reap()
        self.autoscale()

    def reap(self) -> None:
        control = self.control
        now = time.monotonic()
        for worker in list(control.workers.values()):
            if worker.alive and now - worker.last_seen > config.WORKER_TIMEOUT:
                with self.failures.isolated(f"declaring worker {worker.worker_id} dead"):
                    log.warning("worker %s (%s) is silent; declaring it dead", worker.worker_id, worker.hostname)
                    worker.alive = False
                    for container in control.containers.on_worker(worker.worker_id):
                        control.container_exited(
                            container.container_id, -1, "its worker stopped responding", blame_inputs=False
                        )
        if now - self._last_sweep >= CONTAINER_SWEEP_INTERVAL:
            self._last_sweep = now
            self._sweep_containers(now)
        with self.failures.isolated("forgetting idle calls and exited containers"):
            control.forget_idle_calls(config.CALL_MEMORY_IDLE)
            control.containers.forget_expired()
        for app in list(control.apps.values()):
            if app.ephemeral and app.state == "running" and now - app.last_heartbeat > config.APP_CLIENT_TIMEOUT:
                with self.failures.isolated(f"stopping abandoned app {app.name} ({app.app_id})"):
                    log.info("ephemeral app %s lost its client; stopping it", app.name)
                    control.stop_app(app.app_id)

    def _sweep_containers(self, now: float) -> None:
        heartbeat_cutoff = now - config.CONTAINER_HEARTBEAT_TIMEOUT
        for container in self.control.containers.active():
            # Inline and cheap for the many that are fine: a sweep walks every one of them.
            if container.state == ContainerState.RUNNING and container.last_heard >= heartbeat_cutoff:
                continue
            if container.state not in (ContainerState.RUNNING, ContainerState.STARTING):
                continue
            with self.failures.isolated(f"reaping container {container.container_id}"):
                self._reap_container(container, now)

    def _reap_container(self, container: Container, now: float) -> None:
        control = self.control
        if (
            container.state == ContainerState.RUNNING
            and now - container.last_heard > config.CONTAINER_HEARTBEAT_TIMEOUT
        ):
            log.warning("container %s stopped heartbeating; replacing it", container.container_id)
            control.stop_container(container, rerun_held=False)
            control.container_exited(container.container_id, -1, "it stopped heartbeating")
        if container.state == ContainerState.STARTING and now - container.created_at > start_timeout(
            control, container
        ):
            control.stop_container(container)
            control.container_exited(container.container_id, -1, "it did not start in time")

    def autoscale(self) -> None:
        for fn in list(self.control.functions.values()):
            with self.failures.isolated(f"scaling {fn.name} ({fn.function_id})"):
                self._scale(fn)

    def _scale(self, fn: FunctionRuntime) -> None:
        control = self.control
        control.retry_start_if_due(fn)
        if fn.init_failure is not None:
            return
        app = control.apps.get(fn.app_id)
        if app is None or not app.live:
            return
        keep_warm = 0 if fn.retired else fn.definition.min_containers
        if not fn.queue and not keep_warm:
            return  # nothing waits and nothing is kept warm: no container to start (most functions, most passes)
        live = control.live_containers(fn)
        available = sum(_free_slots(fn.slots, c) for c in live)
        backlog = math.ceil((len(fn.queue) - available) / fn.slots)
        drain = fn.drain_seconds()
        if live and drain < config.SCALE_UP_MIN_DRAIN:
            backlog = 0  # the containers it has clear the queue sooner than a new one would start
        elif drain == math.inf and live:
            # Pace unknown yet: ramp up (double per round) rather than jump to full capacity,
            # so that a queue of fast inputs is measured before it fills the machine.
            running = sum(1 for c in live if c.state == ContainerState.RUNNING)
            starting = len(live) - running
            backlog = min(backlog, max(1, running) - starting)
        wanted = max(backlog, keep_warm - len(live), 0)
        if fn.definition.max_containers:
            wanted = min(wanted, fn.definition.max_containers - len(live))
        cap = control.cpu_bound_cap(fn)
        if cap is not None:
            wanted = min(wanted, max(keep_warm, cap) - len(live))
        for _ in range(wanted):
            if control.place_container(fn) is None:
                reason = control.unplaceable(fn)
                if reason is not None:
                    control.fail_unplaceable(fn, reason)
                else:
                    control.evict_idle_container(needed_by=fn)  # room for it on a later pass
                break


def _free_slots(slots: int, container: Container) -> int:
    """Inputs `container` will take without a new one: all its slots while it starts or loads the
    function (hello said, nothing asked for, served or held yet), its spare ones while parked."""
    if container.state == ContainerState.STARTING or not (container.served or container.held or container.waiting):
        return slots
    # A container may ask for its next inputs while it still runs some (runner.py prefetches).
    return max(0, slots - len(container.held)) if container.waiting else 0


def start_timeout(control: ControlPlane, container: Container) -> float:
    """Seconds a container may take to say hello: more when its worker may build an image first."""
    fn = control.functions.get(container.function_id)
    if fn is not None and fn.definition.HasField("image"):
        return config.CONTAINER_START_TIMEOUT + config.IMAGE_BUILD_TIMEOUT
    return config.CONTAINER_START_TIMEOUT
