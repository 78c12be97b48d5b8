"""Group commit: writes handed in by concurrent callers go to the store together, in one
transaction, in the order they were handed in.

Against PostgreSQL every transaction costs several network round trips; with many
containers putting outputs at once, one transaction per put made those round trips the
map's bottleneck. One batch at a time, in hand-in order: the output cursors the store
assigns follow that order, which the readers' cursors rely on.

Where a batch is written (`inline=True`: the output writer on a local store, SQLite):

- while the store answers, on the loop, at the end of the loop's turn (the items handed in
  during that turn form the batch). Handing each batch to a thread and back cost two thread
  wake-ups per `.remote()` (+0.1-0.3 ms of its ~1.3 ms, docs/BENCHMARKS.md), for a commit
  that takes ~0.1 ms on a reachable store (SQLite in WAL mode does not fsync a commit);
- while it does not (a write on the loop failed fast, store_retry.py, or another store call
  saw the outage), on the store thread, which retries with backoff: the loop keeps answering
  meanwhile. Every batch handed in after that one goes to the thread too, behind it, until
  the thread has written them all: then the loop writes again.

`inline=False`: always on the thread. The log writer (logs are many, nobody waits for them),
and the output writer on PostgreSQL, whose commits are network round trips the loop would wait
for, not a local write: there the loop serves other calls meanwhile, and the batches grow.

A caller's items are written, and it resumes, before it answers its own caller, so nothing
is acknowledged before it is durable. `apply` (the in-memory side of the write) runs on the
loop after each transaction, in the same order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from . import store_retry
from .errors import StoreUnavailable

T = TypeVar("T")

log = logging.getLogger("nano_modal.server")

_Batch = list[tuple[list[T], "asyncio.Future[None]"]]


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], None],
        apply: Callable[[list[T]], None],
        name: str = "store-writer",
        *,
        inline: bool = False,
    ) -> None:
        self._write = write  # one store transaction for all the items
        self._apply = apply  # what follows from it in memory: runs on the loop, after the write
        self._inline = inline  # written on the loop while the store answers (see above)
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: _Batch[T] = []  # handed in, not yet in a transaction, in hand-in order
        self._turn_end: asyncio.Handle | None = None  # the inline write at the end of this turn
        self._riding: asyncio.Task[None] | None = None  # the thread's writes: all pending go there

    async def add(self, items: list[T]) -> None:
        """Resumes once `items` are written and applied (raises what the write raised)."""
        await self.enqueue(items)

    def submit(self, items: list[T]) -> asyncio.Future[None]:
        """Queue `items` for the next transaction without waiting for it (a stop or a cancel
        fails inputs on its own): the future resolves once they are written; a failure is logged."""
        future = self.enqueue(items)
        future.add_done_callback(_log_failure)
        return future

    def enqueue(self, items: list[T]) -> asyncio.Future[None]:
        """Queue `items`; the future resolves once they are written and applied."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((items, future))
        if self._riding is not None and not self._riding.done():
            return future  # the thread is writing: these follow, in order
        if self._inline and store_retry.outage.since is None:
            if self._turn_end is None:
                # After the callbacks already ready: the items they hand in join this batch.
                self._turn_end = loop.call_soon(self._write_on_loop)
        else:
            self._riding = loop.create_task(self._write_on_thread())
        return future

    def _write_on_loop(self) -> None:
        self._turn_end = None
        if not self._pending or (self._riding is not None and not self._riding.done()):
            return
        batch, self._pending = self._pending, []
        items = [item for items, _ in batch for item in items]
        try:
            if items:  # (an empty batch: a caller waiting for what was handed in before it)
                self._write(items)
            self._apply(items)
        except StoreUnavailable:
            # Away: the thread retries it, and writes everything handed in after it, in order.
            self._pending = batch + self._pending
            self._riding = asyncio.get_running_loop().create_task(self._write_on_thread())
            return
        except Exception as exc:
            _fail(batch, exc)
            return
        _succeed(batch)

    async def _write_on_thread(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # let the callbacks already ready hand in their items too
        while self._pending:
            batch, self._pending = self._pending, []
            items = [item for items, _ in batch for item in items]
            try:
                if items:
                    await loop.run_in_executor(self._thread, self._write, items)
                self._apply(items)
            except Exception as exc:
                _fail(batch, exc)
                continue
            _succeed(batch)

    def close(self) -> None:
        """Write nothing more: what was handed in and not written yet stays so, its callers
        unanswered (as when the process stops here)."""
        if self._turn_end is not None:
            self._turn_end.cancel()
            self._turn_end = None
        self._thread.shutdown(wait=False)


def _succeed(batch: _Batch[T]) -> None:
    for _, future in batch:
        if not future.done():
            future.set_result(None)


def _fail(batch: _Batch[T], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a store write nobody waits for failed: %s", future.exception())
