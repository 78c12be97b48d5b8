"""Run every benchmark, one after the other, each in its own interpreter.

    python bench/run_all.py [--quick] [--skip-million] [--out DIR] [--also bench_faults bench_hosts ...]

Each script prints its own tables and writes its results as JSON under DIR
(default bench/results/). See bench/README.md for what each one measures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_remote", "bench_map", "bench_cold_start", "bench_million"]


def wait_quiet(limit: float) -> None:
    """Other work on a small machine skews every number: give it a chance to finish first."""
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run of a few minutes)")
    parser.add_argument("--skip-million", action="store_true", help="leave out the 1M-input map (the longest)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each script, wait up to this long for the 1-minute load average to drop below 1",
    )
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        metavar="SCRIPT",
        help="more scripts to run after the four, e.g. bench_faults bench_hosts (root, PostgreSQL, Dask)",
    )
    args = parser.parse_args()
    failed = []
    for name in SCRIPTS + [a.removesuffix(".py") for a in args.also]:
        if name == "bench_million" and args.skip_million:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", str(args.out / f"{name}.json")]
        if args.quick:
            cmd.append("--quick")
        wait_quiet(args.wait_quiet)
        print(f"\n=== {' '.join(cmd[1:])}  (load average {os.getloadavg()[0]:.2f})", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"=== {name}: exit {code} after {time.perf_counter() - t0:,.0f}s", flush=True)
        if code:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
