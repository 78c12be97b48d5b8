"""Sandboxes: create-to-first-output and exec round trips per runtime, against `subprocess.run`.

    python bench/bench_sandbox.py [--quick] [--json FILE] [-n N]

A server and a worker per runtime (process, bwrap, gvisor where installed), driven from
this process through the SDK. Per sample:
- create: `Sandbox.create("echo", "hi")` until its first output reaches the client
  (placement, worker start, runtime, agent, relay, the command);
- exec: `sb.exec("echo", "hi")` on a running sandbox until its output reaches the client,
  then its exit code (`wait()`);
- the peer: `subprocess.run(["echo", "hi"], capture_output=True)` on this machine.
Medians and p95 of N. Runtimes run one after another (each with its own server and worker);
`--order` changes which goes first, to see how much the neighbours' load moved a row.
Then, on the first runtime: `--alive M` sandboxes (cpu=0.05 each, so that M fit the
machine's reservations) created at once and kept alive; each answers an exec while all
are up (p50/p95), with the worker's memory (its process tree's RSS) at that point.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _common as c
from bench_runtimes import RUNTIMES, Cluster, available


def bare() -> float:
    t = time.perf_counter()
    subprocess.run(["echo", "hi"], capture_output=True, check=True)
    return time.perf_counter() - t


def create_to_first_output(app: Any) -> float:
    from nano_modal import Sandbox

    t = time.perf_counter()
    sb = Sandbox.create("echo", "hi", app=app)
    assert next(iter(sb.stdout)) == "hi\n"
    elapsed = time.perf_counter() - t
    sb.wait()
    return elapsed


def exec_round_trip(sb: Any) -> float:
    t = time.perf_counter()
    p = sb.exec("echo", "hi")
    assert p.stdout.read() == "hi\n" and p.wait() == 0
    return time.perf_counter() - t


def many_alive(app: Any, m: int, worker_pid: int) -> dict[str, float]:
    """M sandboxes up at once, each answering an exec; the worker's tree's memory meanwhile."""
    from nano_modal import Sandbox

    t = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        sandboxes = list(pool.map(lambda _: Sandbox.create(app=app, cpu=0.05, timeout=600), range(m)))
        up = time.perf_counter() - t
        rounds = list(pool.map(exec_round_trip, sandboxes))
        alive = sum(1 for sb in sandboxes if sb.poll() is None)
        rss = sum(c.rss_bytes(pid) for pid in [worker_pid, *c.descendants(worker_pid)])
        list(pool.map(lambda sb: sb.terminate(), sandboxes))
    return {
        "m": m,
        "alive": alive,
        "create_all_s": up,
        "exec_p50": c.percentile(rounds, 50),
        "exec_p95": c.percentile(rounds, 95),
        "worker_tree_rss_mb": rss / 2**20,
    }


def main() -> None:
    extra = [
        (("-n",), {"type": int, "default": 20, "help": "samples per row"}),
        (("--order",), {"default": ",".join(RUNTIMES), "help": "runtimes, in the order to run them"}),
        (("--alive",), {"type": int, "default": 100, "help": "sandboxes alive at once (0: skip)"}),
    ]
    args = c.parse_args(__doc__ or "", extra)
    n = 5 if args.quick else args.n
    from nano_modal import App, Sandbox

    runtimes = [r for r in args.order.split(",") if available(r)]
    clusters = {r: Cluster(r) for r in runtimes}
    create: dict[str, list[float]] = {r: [] for r in runtimes}
    execs: dict[str, list[float]] = {r: [] for r in runtimes}
    peer = [bare() for _ in range(n)]
    crowd: dict[str, float] = {}
    try:
        for r, cluster in clusters.items():
            cluster.use()
            app = App(f"bench-sandbox-{r}")
            with app.run(show_logs=False):
                create_to_first_output(app)  # warms this process's channel and the worker
                for _ in range(n):
                    create[r].append(create_to_first_output(app))
                sb = Sandbox.create(app=app)
                exec_round_trip(sb)
                for _ in range(n):
                    execs[r].append(exec_round_trip(sb))
                sb.terminate()
                if args.alive and r == runtimes[0]:
                    crowd = many_alive(app, 20 if args.quick else args.alive, cluster.worker.pid)
    finally:
        for cluster in clusters.values():
            cluster.close()
    base, base95 = c.median(peer), c.percentile(peer, 95)
    rows = [["subprocess.run (peer)", c.fmt_us(base), c.fmt_us(base95), "1x", c.fmt_us(base), c.fmt_us(base95), "1x"]]
    for r in runtimes:
        made, ran = c.median(create[r]), c.median(execs[r])
        made95, ran95 = c.fmt_us(c.percentile(create[r], 95)), c.fmt_us(c.percentile(execs[r], 95))
        rows.append([r, c.fmt_us(made), made95, f"{made / base:.0f}x", c.fmt_us(ran), ran95, f"{ran / base:.0f}x"])
    columns = ["runtime", "create to first output", "p95", "vs peer", "exec round trip", "p95", "vs peer"]
    c.table(f"Sandboxes: `echo hi` (median and p95 of {n})", columns, rows)
    results = {"n": n, "peer": base, **{f"create_{r}": c.median(create[r]) for r in runtimes}}
    results.update({f"create_p95_{r}": c.percentile(create[r], 95) for r in runtimes})
    results.update({f"exec_{r}": c.median(execs[r]) for r in runtimes})
    if crowd:
        c.table(
            f"{int(crowd['m'])} sandboxes alive at once on {runtimes[0]} (cpu=0.05 each)",
            ["alive when probed", "created all in", "exec p50", "exec p95"],
            [
                [
                    f"{int(crowd['alive'])}",
                    c.fmt_s(crowd["create_all_s"]),
                    c.fmt_us(crowd["exec_p50"]),
                    c.fmt_us(crowd["exec_p95"]),
                ]
            ],
        )
        results["alive"] = crowd
    c.write_json(args.json, "sandbox", results)


if __name__ == "__main__":
    main()
