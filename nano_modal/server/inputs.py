"""Calls and their inputs: start, enqueue, hand to containers, retry, cancel.

An input moves through `INPUT_TRANSITIONS` only (`move` refuses any other step):

    QUEUED --taken--> HELD --success--> DONE
      ^                 |--failure, retries left--> RETRYING --due--> QUEUED
      |                 |--failure, none left--> FAILED
      +---released------+  (its container gave it back, or died holding several)
    QUEUED / HELD / RETRYING --cancel, app stopped--> CANCELLED
    QUEUED / HELD / RETRYING --function cannot start--> FAILED

HELD means handed to a container, which runs it: the server learns of its start and its
end only from the container's outputs, so "held" and "running" are one state here. An
input's `attempt` is durable: written with the failure that uses one (outputs.py).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections.abc import Iterable

from .. import config
from ..proto import api_pb2
from . import store_retry
from .control_base import ControlBase, new_id
from .errors import Invalid, NotFound
from .input_states import final_state, move_input
from .state import Call, Container, FunctionRuntime, InputState, QueuedInput
from .store import AttemptRow, CallRow, InputRow, OutputRow

log = logging.getLogger("nano_modal.server")

_retry_tiebreak = itertools.count()


class CallsAndInputs(ControlBase):
    """Calls and inputs: the input queues, the retry heaps, what each container holds."""

    def start_call(
        self,
        function_id: str,
        kind: int,
        inputs: Iterable[api_pb2.FunctionInput],
        complete: bool,
        schedule_fire: float | None = None,
        *,
        run_before_written: bool = False,
        parent_input_id: str = "",
    ) -> Call:
        """`run_before_written`: the caller is answered only with the call's output (a blocking
        .remote()), so its input may go to a container first and be written while it runs (see
        _write_after_dispatch); otherwise it is written before any container may take it."""
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
        row = CallRow(call.call_id, function_id, kind, call.num_inputs, complete, False, time.time(), parent_input_id)
        input_rows = [self._input_row(q) for q in queued]
        local_store_up = self.store.local_commits and store_retry.outage.since is None
        if run_before_written and schedule_fire is None and local_store_up:
            self.calls[call.call_id] = call
            self._enqueue(fn, queued)
            call.written = self._write_after_dispatch(row, input_rows, fn, queued)
            return call
        self.store.create_call(row, input_rows, schedule_fire)
        self.calls[call.call_id] = call
        self._enqueue(fn, queued)
        return call

    def _write_after_dispatch(
        self, row: CallRow, input_rows: list[InputRow], fn: FunctionRuntime, queued: list[QueuedInput]
    ) -> asyncio.Future[None]:
        """Write a call handed out already, on the loop, right after the parked container's fetch
        is answered (that wake-up was queued first): the container runs the input while the server
        commits (~0.1 ms off a .remote()'s critical path). Still before its output can be written
        (that needs the container's answer, a later turn of the loop) and before the caller hears
        anything (FunctionMap waits for this). Only on a local store that answers: a write on the
        loop is a local commit. If it fails, the caller gets the store's error, the input is taken
        back if no container has it yet, and the call is forgotten (docs/BENCHMARKS.md, "what is
        durable when")."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        written.add_done_callback(lambda f: f.cancelled() or f.exception())  # its caller may be gone

        def write() -> None:
            try:
                self.store.create_call(row, input_rows)
            except Exception as exc:
                for item in queued:
                    if item in fn.queue:
                        fn.queue.remove(item)
                self.calls.pop(row.call_id, None)
                written.set_exception(exc)
                return
            written.set_result(None)

        loop.call_soon(write)
        return written

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
        else:
            self.calls.move_to_end(call_id)
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
        self.retry_start_if_due(fn)
        if fn.init_failure is not None:
            failure = fn.init_failure.exception_repr
            raise Invalid(f"function {fn.name} failed to start: {failure}; {self.start_retry_hint(fn)}")
        reason = self.unplaceable(fn)
        if reason is not None:
            raise Invalid(reason)

    @staticmethod
    def _queued(call: Call, inputs: Iterable[api_pb2.FunctionInput]) -> list[QueuedInput]:
        return [
            QueuedInput(new_id("in"), call.call_id, call.function_id, i.idx, i.args, call.kind, 0, i.method_name)
            for i in inputs
        ]

    @staticmethod
    def _input_row(q: QueuedInput) -> InputRow:
        return InputRow(
            q.input_id, q.call_id, q.function_id, q.idx, q.args.data, q.args.blob_id, q.attempt, q.method_name
        )

    def _enqueue(self, fn: FunctionRuntime, queued: list[QueuedInput]) -> None:
        if queued:
            fn.queue.extend(queued)
            fn.inputs_ready.fire()
            if not any(c.waiting for c in self.live_containers(fn)):  # a cold start: now, not at the next tick
                self.scale_needed.fire()

    def forget_idle_calls(self, idle_seconds: float) -> None:
        """Drop finished calls nobody asked about for a while from memory (the store keeps them)."""
        now = time.monotonic()
        cutoff = now - idle_seconds
        for _ in range(len(self.calls)):  # the stale front only: self.calls is least recently used first
            call_id, call = next(iter(self.calls.items()))
            if call.last_access >= cutoff:
                return
            if call.done:
                del self.calls[call_id]
            else:  # still running: looked at again in idle_seconds, not at every tick
                call.last_access = now
                self.calls.move_to_end(call_id)

    def cancel_call(self, call_id: str) -> None:
        call = self.get_call(call_id)
        if call.cancelled or call.done:
            return
        self.store.update_call(call_id, num_inputs=call.num_inputs, inputs_complete=True, cancelled=True)
        call.cancelled = True
        call.inputs_complete = True
        fn = self._function(call.function_id)
        doomed = [item for item in fn.queue if item.call_id == call_id]
        doomed += [item for _, _, item in fn.delayed if item.call_id == call_id]
        fn.queue = type(fn.queue)(item for item in fn.queue if item.call_id != call_id)
        fn.delayed = [entry for entry in fn.delayed if entry[2].call_id != call_id]
        heapq.heapify(fn.delayed)
        for container in self.live_containers(fn):
            running = [item for item in container.held.values() if item.call_id == call_id]
            if running:
                for item in running:
                    del container.held[item.input_id]
                doomed += running
                # Its inputs may be mid-run: the only way to stop user code is to stop its container.
                # Any others it holds (of other calls, fetched ahead) did nothing wrong.
                container.ending = True
                self.stop_container(container)
        self._fail_inputs(doomed, api_pb2.OUTPUT_STATUS_CANCELLED, "the call was cancelled")
        call.changed.fire()

    def _fail_inputs(self, items: list[QueuedInput], status: int, message: str, error: bytes = b"") -> None:
        """Final outputs for `items`; `error`: the pickled exception the callers raise (default: from `message`)."""
        for item in items:
            move_input(item, final_state(status))
        rows = [
            OutputRow(i.call_id, i.input_id, i.idx, status, error, "", message, "", final=True, queued_at=i.queued_at)
            for i in items
        ]
        self._record_outputs(rows)

    def _retry_or_fail(self, item: QueuedInput, row: OutputRow) -> OutputRow | AttemptRow:
        """Schedule a retry if the function's policy allows one (the attempt it used is then what
        to record); otherwise the row is final."""
        fn = self._function(item.function_id)
        policy = fn.definition.retries
        call = self.calls.get(item.call_id)
        if call is None or call.cancelled or item.attempt >= policy.max_retries:
            move_input(item, InputState.FAILED)
            return row
        delay = policy.initial_delay * (policy.backoff_coefficient**item.attempt)
        if policy.max_delay > 0:
            delay = min(delay, policy.max_delay)
        item.attempt += 1
        move_input(item, InputState.RETRYING)
        heapq.heappush(fn.delayed, (time.monotonic() + delay, next(_retry_tiebreak), item))
        log.info("retrying input %s of %s (attempt %d) in %.1fs", item.input_id, fn.name, item.attempt, delay)
        return AttemptRow(item.input_id, item.attempt)

    def promote_due_retries(self) -> None:
        now = time.monotonic()
        for fn in self.functions.values():
            moved = False
            while fn.delayed and fn.delayed[0][0] <= now:
                item = heapq.heappop(fn.delayed)[2]
                move_input(item, InputState.QUEUED)
                fn.queue.appendleft(item)
                moved = True
            if moved:
                fn.inputs_ready.fire()

    async def take_inputs(
        self, container: Container, max_inputs: int, timeout: float, request_seq: int = 0
    ) -> list[QueuedInput] | None:
        """Hand inputs to a container; None means: shut down. `request_seq` numbers the
        container's requests: a resent one gets what was handed to that number again."""
        batch = await self._take_inputs(container, max_inputs, timeout, request_seq)
        if batch and request_seq:
            container.handed_seq, container.handed = request_seq, [item.input_id for item in batch]
        return batch

    async def _take_inputs(
        self, container: Container, max_inputs: int, timeout: float, request_seq: int
    ) -> list[QueuedInput] | None:
        fn = self._function(container.function_id)
        deadline = time.monotonic() + timeout
        container.waiting = True
        try:
            while True:
                if (
                    not container.live
                    or container.ending
                    or not self.app(fn.app_id).live
                    or container.version < fn.version
                ):
                    return None  # stopped or ending, or a newer deployment replaced its code
                if request_seq and request_seq == container.handed_seq:
                    # A resend (the first request may have been answered while this one waited).
                    return [container.held[i] for i in container.handed if i in container.held]
                event = fn.inputs_ready.event
                if fn.queue and fn.queue[0].suspect:
                    if not container.held:  # a suspect runs alone, so that its fate is its own
                        item = fn.queue.popleft()
                        move_input(item, InputState.HELD)
                        container.held[item.input_id] = item
                        return [item]
                elif fn.queue and not any(item.suspect for item in container.held.values()):
                    # (A container running a suspect asks for its next inputs before it finishes,
                    # runner.py prefetches: it gets none until then, so the suspect runs alone.)
                    if fn.definition.batch_max_size:
                        await self._let_batch_fill(fn, min(max_inputs, fn.definition.batch_max_size))
                        share = len(fn.queue)
                    else:  # share a deep queue fairly between the live containers
                        share = math.ceil(len(fn.queue) / max(1, len(self.live_containers(fn))))
                    # A web request is never held waiting behind other inputs in a sequential
                    # container (one that fetches ahead, runner.py): it goes first to an empty one.
                    sequential = fn.slots == 1 and not fn.definition.batch_max_size
                    batch: list[QueuedInput] = []
                    while (
                        fn.queue
                        and not fn.queue[0].suspect
                        and not (sequential and (batch or container.held) and _is_request(fn.queue[0]))
                        and len(batch) < min(max(1, max_inputs), share)
                    ):
                        batch.append(fn.queue.popleft())
                    for item in batch:
                        move_input(item, InputState.HELD)
                        container.held[item.input_id] = item
                    if batch:
                        return batch
                now = time.monotonic()
                window = fn.definition.scaledown_window or config.DEFAULT_SCALEDOWN_WINDOW
                idle_for = now - container.idle_since
                if (
                    not container.held
                    and idle_for >= window
                    and len(self.live_containers(fn)) > fn.definition.min_containers
                ):
                    container.scaled_down = True  # it exits next: a session it served is over (web_sessions.py)
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

    def _requeue(self, container: Container, input_ids: Iterable[str]) -> None:
        fn = self._function(container.function_id)
        returned = [container.held.pop(i) for i in input_ids if i in container.held]
        for item in returned:
            move_input(item, InputState.QUEUED)
        if returned:
            fn.queue.extendleft(reversed(returned))
            fn.inputs_ready.fire()


def _is_request(item: QueuedInput) -> bool:
    return item.method_name.startswith(config.WEB_METHOD)
