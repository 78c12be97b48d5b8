"""The functions bench_cpu_map.py maps, in a module of their own: a container imports the
module a function is defined in, and this one needs nothing but the standard library."""

from __future__ import annotations

import time

IO_SLEEP = 0.2  # seconds an I/O-bound input waits
LOOPS_PER_UNIT = 1_000  # spin() runs this many iterations per unit


def spin(units: int) -> int:
    """Pure-Python CPU work: `units` × LOOPS_PER_UNIT iterations of integer arithmetic."""
    total = 0
    for i in range(units * LOOPS_PER_UNIT):
        total += i * i % 7
    return total


def sleepy(i: int) -> int:
    time.sleep(IO_SLEEP)
    return i
