"""What a container's own disk (worker/disks.py) adds to its start: attaching a formatted disk
to an empty directory, and formatting one (done ahead of need, off the start).

    sudo python bench/bench_disks.py [-n N]

Needs root (loop devices). Prints the median and p95 of N attaches (each followed by a removal,
untimed, and a wait for the background refill) and of N formats, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from nano_modal.worker.disks import ContainerDisks, _format

SIZE_MB = 10 * 1024  # the worker's default: the size does not change the cost (sparse, lazy)


def _p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


async def main(n: int) -> None:
    disks = ContainerDisks(SIZE_MB, enabled=True)
    await disks.start()
    attach, fmt = [], []
    for _ in range(n):
        while len(disks.ready) < 1:
            await asyncio.sleep(0.01)
        directory = Path(tempfile.mkdtemp(prefix="bench-disk-"))
        start = time.perf_counter()
        disks.attach(directory)
        attach.append((time.perf_counter() - start) * 1000)
        disks.remove(directory)
        start = time.perf_counter()
        _format(SIZE_MB).unlink()
        fmt.append((time.perf_counter() - start) * 1000)
    disks.close()
    load = os.getloadavg()[0]
    print(f"attach a ready disk: median {statistics.median(attach):.1f} ms, p95 {_p95(attach):.1f} ms (n={n})")
    print(f"format one (ahead of need): median {statistics.median(fmt):.1f} ms, p95 {_p95(fmt):.1f} ms")
    print(f"load average {load:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=30)
    asyncio.run(main(parser.parse_args().n))
