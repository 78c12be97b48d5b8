"""What the control plane does as containers start, stop and exit.

`Containers` (containers.py) decides the moves and says what must follow; this carries it
out: tells workers, settles the inputs a dead container held, counts start failures.
"""

from __future__ import annotations

import logging
import math
import time

from .. import config
from ..exception import ExecutionError
from ..proto import api_pb2
from ..serialization import serialize
from .containers import (
    AnnounceExit,
    Command,
    CountStartFailure,
    SettleHeldInputs,
    StopOnWorker,
    WakeFunction,
)
from .control_base import ControlBase
from .input_states import move_input
from .state import Container, ContainerState, FunctionRuntime, InputState, QueuedInput
from .store import AttemptRow, ContainerRunRow, OutputRow

log = logging.getLogger("nano_modal.server")


class ContainerLifecycle(ControlBase):
    """Container events in, their consequences out (see containers.py for the state table)."""

    def live_containers(self, fn: FunctionRuntime) -> list[Container]:
        return self.containers.live_of_function(fn.function_id)

    def container_by_token(self, token: str) -> Container | None:
        return self.containers.by_token(token)

    def container_hello(self, container: Container) -> FunctionRuntime:
        if container.state == ContainerState.STARTING:
            container.ready_at = time.time()
            self._apply(self.containers.transition(container, ContainerState.RUNNING, "hello"))
        container.idle_since = time.monotonic()
        fn = self._function(container.function_id)
        fn.start_failures = 0
        fn.init_failures_in_a_row = 0
        return fn

    def stop_container(self, container: Container, *, rerun_held: bool = True) -> None:
        """Tell its worker to stop it. The inputs it still holds then run again elsewhere, free of
        charge (the platform stopped them, not their code) unless `rerun_held` is False: a
        container presumed hung, whose input may be what hangs it, spends an attempt."""
        if container.live:
            container.ending = container.ending or rerun_held
            self._apply(self.containers.transition(container, ContainerState.STOPPING, "stop"))

    def container_exited(self, container_id: str, exit_code: int, reason: str, *, blame_inputs: bool = True) -> None:
        """Account for a container's end. With `blame_inputs`, an input it died running counts as a
        failed attempt; without (its worker vanished), every input it held simply runs again."""
        container = self.containers.get(container_id)
        if container is None or container.state == ContainerState.EXITED:
            return
        # An error of its own: it ended with a failure code before anyone stopped it (a stop's
        # SIGTERM, a timed-out input's exit and a vanished worker are not the container's errors).
        failed = exit_code != 0 and container.live and not container.ending and blame_inputs
        self._apply(
            self.containers.transition(
                container, ContainerState.EXITED, reason, exit_code=exit_code, blame_inputs=blame_inputs
            )
        )
        run = ContainerRunRow(
            container_id, container.function_id, container.placed_at, container.ready_at, time.time(), failed
        )
        self._record_outputs([run])  # through the output writer: off the loop, with the outputs

    def _apply(self, commands: list[Command]) -> None:
        """Carry out what a container's transition says must happen next."""
        for command in commands:
            match command:
                case StopOnWorker(worker_id, container_id):
                    worker = self.workers.get(worker_id)
                    if worker is not None:
                        worker.to_stop.append(container_id)
                        worker.commands.fire()
                case WakeFunction(function_id):
                    fn = self.functions.get(function_id)
                    if fn is not None:
                        fn.inputs_ready.fire()  # a parked container notices it was stopped
                case CountStartFailure(function_id, exit_code, reason):
                    if function_id in self.functions:
                        self._count_start_failure(self.functions[function_id], exit_code, reason)
                case SettleHeldInputs():
                    self._settle_held(command)
                case AnnounceExit(container, exit_code, reason):
                    for hook in self.container_exit_hooks:
                        hook(container, exit_code, reason)
                    app = self.apps.get(container.app_id)
                    if app is not None:
                        self._wake_log_followers(app)

    def _settle_held(self, command: SettleHeldInputs) -> None:
        """Inputs a container held when it ended: one it ran alone is a failed attempt (if to
        blame); several run again, each alone, free of charge."""
        fn = self._function(command.container.function_id)
        held = list(command.held)
        blame = command.blame_inputs and not command.container.ending
        if len(held) == 1 and blame:
            running, untouched = held, []
        else:
            # Several inputs were out and some may have finished with their outputs unsent:
            # which one killed it is unknown. Each runs again alone, free of charge; one that
            # kills a container on its own is then the culprit.
            running, untouched = [], held
            for item in untouched:
                item.suspect = blame
        for item in untouched:
            move_input(item, InputState.QUEUED)
        if untouched:
            fn.queue.extendleft(reversed(untouched))
            fn.inputs_ready.fire()
        message = f"the container running {fn.name} exited with code {command.exit_code}"
        if command.reason:
            message += f" ({command.reason})"
        message += " before the input finished"
        rows: list[OutputRow | AttemptRow] = [
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
                    queued_at=item.queued_at,
                    container_id=command.container.container_id,
                ),
            )
            for item in running
        ]
        self._record_outputs(rows)

    def _count_start_failure(self, fn: FunctionRuntime, exit_code: int, reason: str) -> None:
        """Containers that die before they can even say hello (a runtime that cannot start them,
        an image without the function's Python) would be restarted forever: after a few in a
        row, the function fails its calls with what happened."""
        fn.start_failures += 1
        if fn.start_failures < config.CONTAINER_START_FAILURES or fn.init_failure is not None:
            return
        app = self.apps.get(fn.app_id)
        by = app.name if app is not None and app.state == "deployed" else fn.app_id  # as `app logs` takes it
        logs = f"`nano-modal app logs {by}`"
        message = (
            f"containers of {fn.name} exit before they start (the last {fn.start_failures} in a row; "
            f"exit code {exit_code}{f', {reason}' if reason else ''}): their output is in {logs}; fix the"
            " image or the worker's environment it names"
        )
        log.warning("%s", message)
        error = api_pb2.Payload(data=serialize(ExecutionError(message)))
        self._fail_function(fn, api_pb2.ContainerInitFailedRequest(exception=error, exception_repr=message), [])

    def container_init_failed(self, container: Container, request: api_pb2.ContainerInitFailedRequest) -> None:
        """The function cannot be loaded: fail everything queued for it instead of restarting forever."""
        held = list(container.held.values())
        container.held.clear()
        self._fail_function(self._function(container.function_id), request, held)

    def _fail_function(
        self, fn: FunctionRuntime, request: api_pb2.ContainerInitFailedRequest, held: list[QueuedInput]
    ) -> None:
        fn.init_failure = request
        fn.init_failed_at = time.monotonic()
        fn.init_failed_registrations = self.worker_registrations
        fn.init_failures_in_a_row += 1
        doomed = held + list(fn.queue) + [item for _, _, item in fn.delayed]
        fn.queue.clear()
        fn.delayed.clear()
        for item in doomed:
            move_input(item, InputState.FAILED)
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
                queued_at=i.queued_at,
            )
            for i in doomed
        ]
        self._record_outputs(rows)

    def _start_retry_at(self, fn: FunctionRuntime) -> float:
        backoff = math.ldexp(config.START_RETRY_BACKOFF, max(0, fn.init_failures_in_a_row - 1))  # doubled
        return fn.init_failed_at + min(backoff, config.START_RETRY_MAX)

    def retry_start_if_due(self, fn: FunctionRuntime) -> None:
        """A function whose containers failed to start gets another chance once a worker joined or
        restarted since (it may have what was missing) or its back-off has passed: the next call
        (or min_containers) starts containers again instead of failing at once forever."""
        if fn.init_failure is None:
            return
        worker_changed = self.worker_registrations != fn.init_failed_registrations
        if not worker_changed and time.monotonic() < self._start_retry_at(fn):
            return
        log.info("trying %s again (%s)", fn.name, "a worker joined or restarted" if worker_changed else "back-off over")
        fn.init_failure = None
        fn.start_failures = 0

    def start_retry_hint(self, fn: FunctionRuntime) -> str:
        """What a caller of a function that failed to start may do (said with the failure)."""
        wait = max(0.0, self._start_retry_at(fn) - time.monotonic())
        return f"it is tried again in {wait:.0f} s, or as soon as a worker joins or restarts"
