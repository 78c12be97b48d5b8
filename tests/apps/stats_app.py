"""Functions whose runs Function.stats, Function.metrics, App.stats and call graphs report
(tests/test_stats.py). Importable, so containers load them by module reference."""

from __future__ import annotations

import os
import time

import nano_modal

app = nano_modal.App("stats-tests")

WORK_SECONDS = 0.2  # each input of `work` runs at least this long: its execution time's floor


@app.function(scaledown_window=5)
def work(x: int) -> int:
    time.sleep(WORK_SECONDS)
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


@app.function(scaledown_window=5)
def crash() -> None:
    os._exit(3)  # the container dies running its input: an error of the container's own


@app.function(scaledown_window=5)
def child(x: int) -> int:
    return x + 1


@app.function(scaledown_window=5)
def parent(n: int) -> list[int]:
    spawned = child.spawn(100)
    return [child.remote(i) for i in range(n)] + [spawned.get()]


@app.function(scaledown_window=5)
async def parent_async(n: int) -> list[int]:
    return [await child.remote.aio(i) for i in range(n)]
