"""Throughput of `.map` over 100k trivial inputs, against Ray tasks and multiprocessing.Pool.

    python bench/bench_map.py [--quick] [--n N] [--reps R] [--json FILE]

Peers (all alive for the whole run; repetitions interleaved so noise hits them alike):

* nano-modal      `list(f.map(range(N)))` (embedded server + worker; containers warm)
* Ray tasks       `ray.get([f.remote(i) for i in range(N)])`
* Pool.map        `Pool(2).map(f, range(N))` with its default chunksize (ceil(N / (4 * 2)))
* Pool.map cs=1   the same with chunksize=1: one pipe message per input, like the others

Reported: inputs per second (median over repetitions) and the CPU seconds each process
spent, which shows where the time goes on this 2-core machine. Target: nano-modal
>= 5,000 inputs/s and ahead of Ray.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any

import _common as c

TARGET_PER_S = 5_000


def identity(x: Any) -> Any:
    return x


def count_containers() -> int:
    return sum(1 for pid in c.descendants(os.getpid()) if c.is_container(pid))


def timed(run: Callable[[int], list[Any]], n: int) -> tuple[float, dict[str, float]]:
    meter = c.CpuMeter().start()
    t0 = time.perf_counter()
    out = run(n)
    elapsed = time.perf_counter() - t0
    cpu = meter.stop()
    assert len(out) == n and out[0] == 0 and out[-1] == n - 1, "wrong results"
    return elapsed, cpu


def main() -> None:
    args = c.parse_args(
        __doc__.splitlines()[0],
        [(("--n",), {"type": int, "default": None}), (("--reps",), {"type": int, "default": None})],
    )
    n = args.n or (10_000 if args.quick else 100_000)
    reps = args.reps or (1 if args.quick else 2)
    c.temp_home()

    pool = multiprocessing.get_context("fork").Pool(2)  # forked before any gRPC / Ray threads exist
    default_chunksize = math.ceil(n / (4 * 2))

    import nano_modal

    app = nano_modal.App("bench-map")
    # serialized: the container does not import this script, whose `import _common` needs bench/ on its path
    f = app.function(serialized=True)(identity)
    ray = c.start_ray()

    peers: dict[str, Callable[[int], list[Any]]] = {}
    with app.run(show_logs=False):
        peers["nano-modal .map"] = lambda k: list(f.map(range(k)))
        if ray is not None:
            ray_f = ray.remote(identity)
            peers["Ray tasks"] = lambda k: ray.get([ray_f.remote(i) for i in range(k)])
        peers[f"Pool.map chunksize={default_chunksize:,} (default)"] = lambda k: pool.map(identity, range(k))
        peers["Pool.map chunksize=1"] = lambda k: pool.map(identity, range(k), chunksize=1)

        # Warm-up: containers / Ray workers / pool processes up and running.
        for run in peers.values():
            run(min(n, 2_000))

        elapsed: dict[str, list[float]] = {name: [] for name in peers}
        cpu: dict[str, list[dict[str, float]]] = {name: [] for name in peers}
        containers = 0
        for r in range(reps):
            for name, run in peers.items():
                secs, used = timed(run, n)
                elapsed[name].append(secs)
                cpu[name].append(used)
                if name == "nano-modal .map":  # how many containers the autoscaler started for it
                    containers = max(containers, count_containers())
                c.console.print(f"[dim]rep {r + 1}/{reps}: {name}: {n / secs:,.0f}/s[/dim]")
    pool.close()
    pool.join()
    if ray is not None:
        ray.shutdown()

    nano = "nano-modal .map"
    rate = {name: n / c.median(s) for name, s in elapsed.items()}
    results: dict[str, Any] = {
        "n": n,
        "reps": reps,
        "target_per_s": TARGET_PER_S,
        "containers": containers,
        "peers": {},
    }
    rows = []
    for name, s in elapsed.items():
        results["peers"][name] = {
            "per_s_median": rate[name],
            "seconds": s,
            "per_s_each": [n / x for x in s],
            "cpu": cpu[name],
        }
        rows.append(
            [
                name,
                c.fmt_rate(rate[name]),
                " / ".join(f"{n / x:,.0f}" for x in s),
                c.fmt_s(c.median(s)),
                "1.00x" if name == nano else c.ratio(rate[nano], rate[name]),
            ]
        )
    c.table(
        f"map of {n:,} trivial inputs (median of {reps})",
        ["peer", "inputs/s", "each rep (/s)", "wall", "nano rate ÷ peer rate"],
        rows,
        caption=f"target: nano-modal >= {TARGET_PER_S:,}/s and ahead of Ray",
    )

    # Where the CPU went (median repetition per peer), in CPU-seconds per 10k inputs.
    roles = sorted({role for runs in cpu.values() for run in runs for role in run if role != "wall"})
    cpu_rows = []
    for name, runs in cpu.items():
        mid = sorted(runs, key=lambda u: u["wall"])[len(runs) // 2]
        total = sum(v for k, v in mid.items() if k != "wall")
        cpu_rows.append(
            [
                name,
                *[f"{mid.get(role, 0.0) * 10_000 / n:.2f}" for role in roles],
                f"{total * 10_000 / n:.2f}",
                f"{total / mid['wall']:.2f}",
            ]
        )
    c.table(
        "CPU seconds per 10k inputs, by process (median repetition)",
        ["peer", *roles, "total", "cores busy"],
        cpu_rows,
        caption="'client' includes the Ray driver's threads, which are idle outside the Ray runs",
    )

    c.console.print(f"[dim]nano-modal containers alive after its runs (at most): {containers}[/dim]")
    verdict = rate[nano] >= TARGET_PER_S and rate[nano] > rate.get("Ray tasks", 0)
    results["meets_target"] = verdict
    c.console.print(
        f"nano-modal: {rate[nano]:,.0f} inputs/s -> target {'MET' if verdict else 'MISSED'} "
        f"(>= {TARGET_PER_S:,}/s and ahead of Ray at {rate.get('Ray tasks', float('nan')):,.0f}/s)"
    )
    c.write_json(args.json, "map", results)


if __name__ == "__main__":
    main()
