"""Functions the Queue tests run in containers (tests/test_queue.py runs them on each item storage)."""

from __future__ import annotations

import queue
import time
from typing import Any

import nano_modal

app = nano_modal.App("queue-tests")


@app.function(max_containers=4)
def produce(q: nano_modal.Queue, producer: int, count: int) -> int:
    for i in range(0, count, 10):
        q.put_many([(producer, j) for j in range(i, min(i + 10, count))])
    return count


@app.function(max_containers=4)
def consume(q: nano_modal.Queue, consumer: int) -> list[Any]:
    """Take items one by one until a None sentinel; return them (and the container that took them)."""
    got = []
    while True:
        item = q.get(timeout=120)
        if item is None:
            return got
        got.append(item)


@app.function()
def queue_get_timeout(q: nano_modal.Queue, timeout: float) -> str:
    started = time.monotonic()
    try:
        q.get(timeout=timeout)
    except queue.Empty:
        return f"empty after {time.monotonic() - started:.1f}s"
    return "got an item"
