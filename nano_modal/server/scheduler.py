"""Autoscaler and reaper: one pass every SCHEDULER_TICK seconds.

Each pass: move due retries back to their queues; declare silent workers, containers
that never started, and abandoned ephemeral apps dead; then, per function, start
containers for inputs that no idle container can take, within `max_containers`,
keeping `min_containers` warm. Idle containers scale themselves down (see
ControlPlane.take_inputs), so this loop never has to pick a victim.
"""

from __future__ import annotations

import logging
import math
import time

from .. import config
from .control import ControlPlane
from .schedules import ScheduleRunner
from .state import Container, ContainerState

log = logging.getLogger("nano_modal.server")


class Scheduler:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.schedules = ScheduleRunner(control)

    async def run(self) -> None:
        while True:
            woken = self.control.scale_needed.event  # taken first: inputs that come during the pass count
            try:
                self.tick()
            except Exception:
                log.exception("scheduler pass failed")
            await self.control.scale_needed.wait(woken, config.SCHEDULER_TICK)

    def tick(self) -> None:
        self.control.promote_due_retries()
        self.schedules.tick()
        self.reap()
        self.autoscale()

    def reap(self) -> None:
        control = self.control
        now = time.monotonic()
        for worker in control.workers.values():
            if worker.alive and now - worker.last_seen > config.WORKER_TIMEOUT:
                log.warning("worker %s (%s) is silent; declaring it dead", worker.worker_id, worker.hostname)
                worker.alive = False
                for container_id in list(worker.containers):
                    control.container_exited(container_id, -1, "its worker stopped responding", blame_inputs=False)
        for container in list(control.containers.values()):
            if (
                container.state == ContainerState.RUNNING
                and now - container.last_heard > config.CONTAINER_HEARTBEAT_TIMEOUT
            ):
                log.warning("container %s stopped heartbeating; replacing it", container.container_id)
                control.stop_container(container)
                control.container_exited(container.container_id, -1, "it stopped heartbeating")
            if container.state == ContainerState.STARTING and now - container.created_at > start_timeout(
                control, container
            ):
                control.stop_container(container)
                control.container_exited(container.container_id, -1, "it did not start in time")
        control.forget_idle_calls(config.CALL_MEMORY_IDLE)
        for app in control.apps.values():
            if app.ephemeral and app.state == "running" and now - app.last_heartbeat > config.APP_CLIENT_TIMEOUT:
                log.info("ephemeral app %s lost its client; stopping it", app.name)
                control.stop_app(app.app_id)

    def autoscale(self) -> None:
        control = self.control
        for fn in control.functions.values():
            if fn.init_failure is not None:
                continue
            app = control.apps.get(fn.app_id)
            if app is None or not app.live:
                continue
            live = fn.live_containers()
            available = sum(_free_slots(fn.slots, c) for c in live)
            keep_warm = 0 if fn.retired else fn.definition.min_containers
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
    return slots - len(container.held) if container.waiting else 0


def start_timeout(control: ControlPlane, container: Container) -> float:
    """Seconds a container may take to say hello: more when its worker may build an image first."""
    fn = control.functions.get(container.function_id)
    if fn is not None and fn.definition.HasField("image"):
        return config.CONTAINER_START_TIMEOUT + config.IMAGE_BUILD_TIMEOUT
    return config.CONTAINER_START_TIMEOUT
