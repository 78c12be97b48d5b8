"""Group commit on a store thread: writes handed in by concurrent callers go to the store
together, in one transaction, off the event loop, in the order they were handed in.

Against PostgreSQL every transaction costs several network round trips; with many
containers putting outputs at once, one transaction per put made those round trips the
map's bottleneck. The transaction runs on one dedicated thread, so that the event loop
keeps answering while it runs, or while the database is away and the write retries
(store_retry.py). One batch at a time, in hand-in order: the output cursors the store
assigns follow that order, which the readers' cursors rely on. While a batch is written,
the next one gathers.

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

T = TypeVar("T")

log = logging.getLogger("nano_modal.server")


class GroupCommit(Generic[T]):
    def __init__(
        self, write: Callable[[list[T]], None], apply: Callable[[list[T]], None], name: str = "store-writer"
    ) -> None:
        self._write = write  # one store transaction for all the items: runs on the store thread
        self._apply = apply  # what follows from it in memory: runs on the loop, after the write
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: list[tuple[list[T], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

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
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_all())
        return future

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # let the callbacks already ready hand in their items too
        while self._pending:
            batch, self._pending = self._pending, []
            items = [item for items, _ in batch for item in items]
            try:
                await loop.run_in_executor(self._thread, self._write, items)
                self._apply(items)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def close(self) -> None:
        self._thread.shutdown(wait=False)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a store write nobody waits for failed: %s", future.exception())
