"""What naming the call behind each print costs (FunctionCall.logs, container/log_sync.py).

A container's sys.stdout is a `_Watched` stream: each write finds the current call, and a
container running inputs concurrently also takes a lock and holds unfinished lines. This
times writes of one line to an unbuffered pipe (containers run with PYTHONUNBUFFERED=1),
through the plain counting wrapper the container had before and through `_Watched`, one
input at a time and concurrently, alternated, and prints medians.

    python bench/bench_log_marks.py [--writes 50000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import threading
import time
from typing import Any

from nano_modal._runtime_context import set_current_input
from nano_modal.container.log_sync import _Watched


class _Counting:
    """The wrapper before call ids: counts writes, nothing else."""

    def __init__(self, stream: io.TextIOWrapper) -> None:
        self.stream = stream
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return self.stream.write(text)


def _pipe() -> io.TextIOWrapper:
    read_end, write_end = os.pipe()

    def drain() -> None:
        while os.read(read_end, 1 << 16):
            pass

    threading.Thread(target=drain, daemon=True).start()
    return io.TextIOWrapper(os.fdopen(write_end, "wb", buffering=0), write_through=True)


def _ns_per_write(writer: Any, writes: int) -> float:
    started = time.perf_counter()
    for _ in range(writes):
        writer.write("a line of output\n")
    return (time.perf_counter() - started) / writes * 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    stream = _pipe()
    set_current_input("in-bench", "fc-bench")
    kinds = {
        "counting (before)": lambda: _Counting(stream),
        "_Watched, one input at a time": lambda: _Watched(stream, lambda: "", concurrent=False),
        "_Watched, concurrent inputs": lambda: _Watched(stream, lambda: "", concurrent=True),
    }
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(args.rounds):
        for name, make in kinds.items():
            times[name].append(_ns_per_write(make(), args.writes))
    base = statistics.median(times["counting (before)"])
    print(f"load average {os.getloadavg()[0]:.1f}; {args.writes} writes x {args.rounds} rounds, medians:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:32} {median:7.0f} ns/write  x{median / base:.2f}")


if __name__ == "__main__":
    main()
