"""How much CPU the host and each container use, for the server's autoscaler.

A container's *demand* is the time its threads ran plus the time they sat runnable waiting for
a core (/proc/<pid>/task/<tid>/schedstat), per second of wall time: a pure-Python loop demands
~1 core however many other processes share the host, an input that sleeps on I/O demands ~0.
CPU use alone could not tell the two apart on a crowded host (33 CPU-bound containers on 2
cores each use 0.06 of a core, as little as one that sleeps).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_PROC = Path("/proc")


def _threads(pid: int) -> list[Path]:
    with contextlib.suppress(OSError):
        return list((_PROC / str(pid) / "task").iterdir())
    return []


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (the container's wrappers, its Python, whatever it started)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in _threads(pid):
            with contextlib.suppress(OSError, ValueError):
                todo.extend(int(p) for p in (task / "children").read_text().split())
    return found


def demand_ns(pids: Iterable[int]) -> int:
    """Nanoseconds the threads of `pids` have run or waited to run, since they started."""
    total = 0
    for pid in pids:
        for task in _threads(pid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                ran, waited = (task / "schedstat").read_text().split()[:2]
                total += int(ran) + int(waited)
    return total


def host_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all the host's cores since boot, from /proc/stat."""
    with contextlib.suppress(OSError, ValueError):
        fields = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total = sum(fields[:8])  # guest time is counted in user time already
        return total - idle, total
    return 0, 0


@dataclass
class CpuSampler:
    """Differences between two samples: call `sample` once per worker poll."""

    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    _host: tuple[int, int] = (0, 0)
    _containers: dict[str, int] = field(default_factory=dict)
    _at: float = 0.0

    def sample(self, roots: dict[str, int]) -> tuple[float, dict[str, float]] | None:
        """(cores busy on the host, container id -> cores demanded) since the previous call;
        None on the first call. `roots`: container id -> pid of its outermost process."""
        now = time.monotonic()
        busy, total = host_busy_ticks()
        demands = {cid: demand_ns(process_tree(pid)) for cid, pid in roots.items()}
        previous_host, previous, elapsed = self._host, self._containers, now - self._at
        self._host, self._containers, self._at = (busy, total), demands, now
        if not previous_host[1] or elapsed <= 0:
            return None
        host = (busy - previous_host[0]) / max(1, total - previous_host[1]) * self.cores
        per_container = {
            cid: max(0.0, (ns - previous[cid]) / 1e9 / elapsed) for cid, ns in demands.items() if cid in previous
        }
        return host, per_container
