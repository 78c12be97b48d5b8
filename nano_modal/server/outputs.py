"""Outputs: written (with retried inputs' attempts) by the output writer, served to readers.

Readers are served from memory: every output with cursor > `Call.memory_floor` is in
`Call.recent`, in cursor order; older ones are read from the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence

from ..proto import api_pb2
from .control_base import ControlBase
from .input_states import final_state, move_input
from .state import Call, Container, ContainerState
from .store import AttemptRow, ContainerRunRow, OutputRow, WriterRecord

log = logging.getLogger("nano_modal.server")

FINAL_FAILURES = (api_pb2.OUTPUT_STATUS_FAILURE, api_pb2.OUTPUT_STATUS_TIMEOUT)  # may be retried
LOG_SYNC_KEPT = 10_000  # inputs whose sync-mark count is remembered for their callers (log_sync_lines)


class Outputs(ControlBase):
    """Outputs of calls: their durable write and their readers."""

    async def put_outputs(
        self, container: Container, outputs: Iterable[api_pb2.FunctionOutput], released: Iterable[str]
    ) -> None:
        """Resumes once the outputs are in the store (together with other containers' outputs
        that arrived meanwhile: `GroupCommit`)."""
        released = list(released)
        rows: list[OutputRow | AttemptRow] = []
        fn = self._function(container.function_id)
        now, arrived = time.monotonic(), time.time()
        earlier: list[asyncio.Future[None]] = []
        for out in outputs:
            if out.status == api_pb2.OUTPUT_STATUS_TIMEOUT:
                container.ending = True  # its watchdog exits the process right after this put
            item = container.held.get(out.input_id)
            if item is not None and _cut_short_by_stop(container, out):
                released.append(out.input_id)  # runs again elsewhere: the stop failed it, not its code
                continue
            if item is None:
                # Late or duplicate: the input was reassigned, cancelled or already answered. A
                # resend while the first put is still being written is answered once that is durable.
                if out.input_id in self._committing:
                    earlier.append(self._committing[out.input_id])
                continue
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
                queued_at=item.queued_at,
                finished_at=arrived,
                run_seconds=out.run_seconds,
                container_id=container.container_id,
            )
            if out.log_sync_lines:
                self.log_sync_lines[out.input_id] = out.log_sync_lines
                if len(self.log_sync_lines) > LOG_SYNC_KEPT:
                    del self.log_sync_lines[next(iter(self.log_sync_lines))]
            if row.final:
                del container.held[out.input_id]
                container.served += 1
                fn.finished.append(now)
                if out.status in FINAL_FAILURES:
                    rows.append(self._retry_or_fail(item, row))
                    continue
                move_input(item, final_state(out.status))
            rows.append(row)
        self._requeue(container, released)
        if not container.held:
            container.idle_since = time.monotonic()
            if container.waiting:
                # Its prefetch (runner.py) is parked, with a wait chosen while it held inputs: a
                # suspect or a web request at the queue's head, which only an empty container may
                # take, is now its to take, and its scaledown window (Server.sessions.terminate
                # shortens it) counts from now.
                fn.inputs_ready.fire()
        if rows:
            written = self._output_commit.enqueue(list[WriterRecord](rows))
            ids = [row.input_id for row in rows]
            self._committing.update(dict.fromkeys(ids, written))
            written.add_done_callback(lambda _: self._forget_committed(ids, written))
            earlier.append(written)
        for future in earlier:
            await asyncio.shield(future)  # a caller that gives up does not cancel the write for others

    async def outputs_written(self) -> None:
        """Resumes once every output handed to the output writer so far is in the store (its
        batches are written in order): a cancel or a stop answers its caller only then."""
        await self._output_commit.add([])

    def _forget_committed(self, input_ids: list[str], written: asyncio.Future[None]) -> None:
        for input_id in input_ids:
            if self._committing.get(input_id) is written:
                del self._committing[input_id]

    def _record_outputs(self, records: Sequence[WriterRecord]) -> None:
        """Outputs, the attempts of inputs that failed and run again, and containers that exited:
        queued for the output writer, behind the outputs already on their way (written at once
        without a loop)."""
        if not records:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # driven in-process, without a loop
            self._write_outputs(list(records))
            self._apply_outputs(list(records))
            return
        self._output_commit.submit(list(records))

    def _write_outputs(self, records: list[WriterRecord]) -> None:
        """One transaction (on the loop, or on the output writer's thread while the store is away)."""
        rows = [r for r in records if isinstance(r, OutputRow)]
        attempts = [r for r in records if isinstance(r, AttemptRow)]
        runs = [r for r in records if isinstance(r, ContainerRunRow)]
        arrived = time.time()
        for row in rows:  # outputs the server made (a dead container's, a cancel's): they end now
            row.finished_at = row.finished_at or arrived
        self.store.add_outputs(rows, attempts, runs)

    def _apply_outputs(self, records: list[WriterRecord]) -> None:
        """The written outputs, in memory for their readers (on the loop, in cursor order)."""
        touched: set[str] = set()
        for row in records:
            if not isinstance(row, OutputRow):
                continue
            call = self.calls.get(row.call_id)
            # A call loaded from the store after the write committed has counted the row already.
            if call is not None and row.cursor > call.memory_floor:
                call.num_final += row.final
                call.recent.append(row)
                touched.add(row.call_id)
        for call_id in touched:
            self.calls[call_id].changed.fire()

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


def _cut_short_by_stop(container: Container, output: api_pb2.FunctionOutput) -> bool:
    """A failure from a container the server is stopping (not for its inputs' sake: a timeout or a
    cancel settles those first) is the stop's doing: Modal's entrypoint turns the worker's SIGTERM
    into KeyboardInterrupt (container/modal_stop.py), which reached the caller as the input's error."""
    return (
        container.state == ContainerState.STOPPING
        and container.ending
        and output.status == api_pb2.OUTPUT_STATUS_FAILURE
    )
