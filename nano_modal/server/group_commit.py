"""Group commit: writes handed in by concurrent callers in one turn of the event loop go to
the store together, in one transaction.

Against PostgreSQL every transaction costs several network round trips, during which the
control plane's loop waits; with many containers putting outputs at once, one transaction
per put made those round trips the map's bottleneck. A caller's items are written, and it
resumes, before it answers its own caller, so nothing is acknowledged before it is durable.
The write runs on the loop (as every store write does), so the state it updates never sees
another coroutine halfway through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None]) -> None:
        self._write = write  # one store transaction for all the items (and what follows from it)
        self._pending: list[tuple[list[T], asyncio.Future[None]]] = []
        self._scheduled = False

    async def add(self, items: list[T]) -> None:
        """Resumes once `items` are written (raises what the write raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((items, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)  # after the callbacks already ready: their items join in
        await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        try:
            self._write([item for items, _ in batch for item in items])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
