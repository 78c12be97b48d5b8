"""The functions bench_cpu_map.py maps, in a module of their own: a container imports the
module a function is defined in, and this one needs nothing but the standard library."""

from __future__ import annotations

import time

IO_SLEEP = 0.2  # seconds an I/O-bound input waits
LOOPS_PER_UNIT = 1_000  # spin() runs this many iterations per unit


def spin(units: int) -> float:
    """Pure-Python CPU work: `units` × LOOPS_PER_UNIT iterations of integer arithmetic. Returns
    the CPU seconds it took in the process that ran it: the work each peer actually did, which
    is the only fair "ideal" on a VM whose CPU clock counts the host's steal (a calibration in
    another process at another moment was off by 0.7-1.6x, session 25)."""
    start = time.thread_time()
    total = 0
    for i in range(units * LOOPS_PER_UNIT):
        total += i * i % 7
    return time.thread_time() - start


def sleepy(i: int) -> int:
    time.sleep(IO_SLEEP)
    return i
