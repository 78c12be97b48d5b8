"""Throughput of `.map` over 100k trivial inputs, against Ray tasks and multiprocessing.Pool.

    python bench/bench_map.py [--quick] [--n N] [--reps R] [--json FILE]
                              [--baseline DIR] [--store sqlite,postgresql]

`--baseline DIR`: also a second nano-modal, imported from DIR (a checkout or `git archive` of an
older commit), in the same interleaved repetitions. `--store`: the state stores to measure on, in
turn (postgresql: a throw-away PostgreSQL server, tests/pg.py; each nano-modal its own database).
With either, each nano-modal runs in a child process of its own (its embedded server, worker and
containers under it) and only the nano-modals are compared (no Ray, no Pool).

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

import json
import math
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
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


# A nano-modal in a child process (--baseline, --store): after its warm-up it reads a count per
# line, maps that many inputs and answers with the time and the CPU its processes spent (JSON).
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[2])  # bench/, for _common
import _common as c
c.temp_home()
import nano_modal

def identity(x):
    return x

app = nano_modal.App("bench-map")
f = app.function(serialized=True)(identity)
with app.run(show_logs=False):
    list(f.map(range(int(sys.argv[1]))))
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        meter = c.CpuMeter().start()
        t0 = time.perf_counter()
        out = list(f.map(range(n)))
        secs = time.perf_counter() - t0
        cpu = meter.stop()
        assert len(out) == n and out[0] == 0 and out[-1] == n - 1, "wrong results"
        print(json.dumps({"secs": secs, "cpu": cpu}), flush=True)
"""


class ChildMap:
    """A nano-modal in a child process importing from `path`, on the store at `store_url`."""

    def __init__(self, path: str, store_url: str | None, warmup: int) -> None:
        env = {**os.environ, "PYTHONPATH": path}
        env.pop("NANO_MODAL_STORE", None)
        if store_url:
            env["NANO_MODAL_STORE"] = store_url
        bench = os.path.dirname(os.path.abspath(__file__))
        argv = [sys.executable, "-c", CHILD, str(warmup), bench]
        self.proc = subprocess.Popen(argv, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready", "child failed to start"

    def run(self, n: int) -> tuple[float, dict[str, float]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        got = json.loads(self.proc.stdout.readline())
        cpu: dict[str, float] = got["cpu"]
        cpu["client"] = cpu.pop("client (this process)", 0.0)
        return float(got["secs"]), cpu

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(120)


def _database(server_url: str, name: str) -> str:
    """A new, empty database `name` on the PostgreSQL server of `server_url`; its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def compare(args: Any, n: int, reps: int) -> None:
    """--baseline / --store: nano-modals in child processes, interleaved, per store."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    versions = {"nano-modal .map": here}
    if args.baseline:
        versions["nano-modal .map baseline"] = os.path.abspath(args.baseline)
    results: dict[str, Any] = {"n": n, "reps": reps, "stores": {}}
    for store in args.store.split(","):
        with ExitStack() as stack:
            urls: dict[str, str | None] = dict.fromkeys(versions)
            if store == "postgresql":
                sys.path.insert(0, here)
                from tests import pg

                server = stack.enter_context(pg.postgres_server())
                urls = {name: _database(server, f"bench_map_{i}") for i, name in enumerate(versions)}
            children = {name: ChildMap(path, urls[name], min(n, 2_000)) for name, path in versions.items()}
            elapsed: dict[str, list[float]] = {name: [] for name in children}
            cpu: dict[str, list[dict[str, float]]] = {name: [] for name in children}
            for r in range(reps):
                for name, child in children.items():
                    secs, used = child.run(n)
                    elapsed[name].append(secs)
                    cpu[name].append(used)
                    c.console.print(f"[dim]{store} rep {r + 1}/{reps}: {name}: {n / secs:,.0f}/s[/dim]")
            for child in children.values():
                child.close()
        results["stores"][store] = {"elapsed": elapsed, "cpu": cpu}
        report(f"{store}: map of {n:,} trivial inputs (median of {reps})", n, elapsed, cpu, "nano-modal .map")
    c.console.print(f"[dim]load average at the end: {os.getloadavg()[0]:.2f}[/dim]")
    c.write_json(args.json, "map", results)


def report(
    title: str, n: int, elapsed: dict[str, list[float]], cpu: dict[str, list[dict[str, float]]], nano: str
) -> None:
    """The rates table and the CPU table (CPU-seconds per 10k inputs, median repetition per peer)."""
    rate = {name: n / c.median(s) for name, s in elapsed.items()}
    rows = [
        [
            name,
            c.fmt_rate(rate[name]),
            " / ".join(f"{n / x:,.0f}" for x in s),
            c.fmt_s(c.median(s)),
            "1.00x" if name == nano else c.ratio(rate[nano], rate[name]),
        ]
        for name, s in elapsed.items()
    ]
    c.table(title, ["peer", "inputs/s", "each rep (/s)", "wall", "nano rate ÷ peer rate"], rows)
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
        "CPU seconds per 10k inputs, by process (median repetition)", ["peer", *roles, "total", "cores busy"], cpu_rows
    )


def main() -> None:
    args = c.parse_args(
        __doc__.splitlines()[0],
        [
            (("--n",), {"type": int, "default": None}),
            (("--reps",), {"type": int, "default": None}),
            (("--baseline",), {"default": None, "help": "also measure the nano-modal importable from this directory"}),
            (("--store",), {"default": None, "help": "comma-separated: sqlite, postgresql (nano-modals only)"}),
        ],
    )
    n = args.n or (10_000 if args.quick else 100_000)
    reps = args.reps or (1 if args.quick else 2)
    c.temp_home()
    if args.baseline or args.store:
        args.store = args.store or "sqlite"
        compare(args, n, reps)
        return

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
    for name, s in elapsed.items():
        per_s = {"per_s_median": rate[name], "seconds": s, "per_s_each": [n / x for x in s], "cpu": cpu[name]}
        results["peers"][name] = per_s
    report(f"map of {n:,} trivial inputs (median of {reps})", n, elapsed, cpu, nano)
    c.console.print("[dim]'client' includes the Ray driver's threads, which are idle outside the Ray runs[/dim]")

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
