"""Several worker hosts on one machine: map throughput vs Dask, server restart, a dead worker's inputs.

    python bench/bench_hosts.py [-n N] [--reps R] [--hosts 1,2,3] [--store sqlite,postgres]
                                [--only map,restart,reassign] [--quick] [--json FILE]

Needs root: every worker host is a network namespace with its own veth link and address
(tests/faults/netns.py); the server runs in the root namespace. The namespaces share the
machine's cores, so more hosts add workers and containers, not CPU.

* map: `.map` of N trivial inputs and of N/10 inputs that each burn 10 ms of CPU, on 1, 2 and
  3 hosts, for each store (SQLite file, real PostgreSQL), interleaved in rounds with Dask on
  the same hosts (`dask worker --nworkers <cores> --nthreads 1` per host: processes, since the
  function holds the GIL). A client program per round: warm-up maps, then the timed ones.
  Containers per worker come from the server's ContainerList.
* restart: SIGKILL the server while a caller waits to call `.remote()`; time from the new
  server's launch until it answers Hello, and until the caller's `.remote()` returns.
* reassign: kill -9 one of two workers a third of the way through a map of 50 ms inputs
  (NANO_MODAL_WORKER_TIMEOUT=--worker-timeout); times from the kill until the server declares
  it dead, until every input it held is running on the other host, and the map's delay
  against an interleaved round without a kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import _hosts as h

from tests.faults import netns
from tests.faults.cluster import FaultCluster, wait_until

SECTIONS = {"map", "restart", "reassign"}

MAP = """
import json, sys, time
from pathlib import Path
import nano_modal

app = nano_modal.App("bench-hosts")


@app.function()
def trivial(x: int) -> int:
    return x


@app.function()
def burn(x: int) -> int:
    end = time.thread_time() + 0.01  # 10 ms of CPU
    while time.thread_time() < end:
        pass
    return x


def sync(step: str) -> None:  # the benchmark reads every process's CPU time here
    (steps / step).write_text("")
    while not (steps / f"{step}.ack").exists():
        time.sleep(0.002)


if __name__ == "__main__":
    n, m, steps = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    with app.run():
        list(trivial.map(range(min(n, 1000))))  # warm: containers up
        list(burn.map(range(min(m, 100))))
        out = {"app_id": app.app_id}
        sync("trivial")
        for name, fn, count in (("trivial", trivial, n), ("burn", burn, m)):
            t0 = time.perf_counter()
            assert len(list(fn.map(range(count)))) == count
            out[name] = count / (time.perf_counter() - t0)
            sync(name + " done")
        print("RESULT", json.dumps(out))
"""

CALLER = """
import sys, time
from pathlib import Path
import nano_modal

f = nano_modal.Function.from_name("bench-restart", "f")
d = Path(sys.argv[1])
assert f.remote(0) == 1  # a container is up
(d / "ready").write_text("1")
for i in range(1, 1000):
    go = d / f"go{i}"
    while not go.exists():
        time.sleep(0.005)
    if go.read_text() == "stop":
        break
    assert f.remote(i) == i + 1
    (d / f"done{i}").write_text(repr(time.time()))
"""

DEPLOY = """
import nano_modal

app = nano_modal.App("bench-restart")


@app.function(min_containers=1)
def f(x: int) -> int:
    return x + 1


if __name__ == "__main__":
    app.deploy(name="bench-restart")
    print("RESULT {}")
"""

# Each input notes where and when it started (the namespaces share the file system).
STEPS = """
import json, os, sys, time
from pathlib import Path
import nano_modal

app = nano_modal.App("bench-reassign")


@app.function()
def step(x: int, marks: str) -> list[int]:
    with open(marks, "a") as f:
        f.write(f"{x} {os.getppid()} {time.time()}\\n")
    time.sleep(0.05)
    return [x, os.getppid()]


if __name__ == "__main__":
    n, marks, progress = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    with app.run():
        list(step.map(range(20), kwargs={"marks": os.devnull}))  # warm
        results, t0 = [], time.time()
        for r in step.map(range(n), kwargs={"marks": marks}, order_outputs=False):
            results.append(r)
            if len(results) % 50 == 0:
                progress.write_text(str(len(results)))
        print("RESULT", json.dumps({"start": t0, "end": time.time(), "results": results}))
"""


def trivial(x: int) -> int:
    return x


def burn(x: int) -> int:
    end = time.thread_time() + 0.01
    while time.thread_time() < end:
        pass
    return x


def bench_map(tmp: Path, hosts: list[netns.Host], stores: list[str], n: int, reps: int) -> dict[str, Any]:
    """Rates per system and round on these hosts; container counts per worker from the last round."""
    m = n // 10
    rates: dict[str, dict[str, list[float]]] = {}
    spread: dict[str, dict[str, list[int]]] = {}
    cpu: dict[str, dict[str, dict[str, float]]] = {}  # system, function: CPU seconds per 1,000 inputs by role
    wanted = [f"h{len(hosts)}"] if "postgres" in stores else []
    with h.postgres_databases(wanted) as urls, contextlib.ExitStack() as running:
        clusters = {}
        for store in stores:
            url = urls.get(f"h{len(hosts)}") if store == "postgres" else None
            clusters[f"nano-modal {store}"] = cluster = h.nano_cluster(tmp / store, hosts, url)
            running.callback(cluster.close)
        dask = h.DaskHosts(tmp / "dask", hosts, os.cpu_count() or 1)
        running.callback(dask.close)
        for _ in range(reps):
            for name, cluster in clusters.items():
                steps = cluster.state_dir / f"steps{len(cluster.clients)}"
                steps.mkdir()
                client = cluster.run_client(MAP, str(n), str(m), str(steps))
                at = [h.client_step(cluster, client, steps, step) for step in ("trivial", "trivial done", "burn done")]
                out = h.client_result(cluster, client)
                for i, (fn, count) in enumerate((("trivial", n), ("burn", m))):
                    rates.setdefault(name, {}).setdefault(fn, []).append(out[fn])
                    cpu.setdefault(name, {})[fn] = {k: (v - at[i][k]) * 1000 / count for k, v in at[i + 1].items()}
                spread[name] = h.containers_per_worker(cluster, out["app_id"])
            dask.map_rate(trivial, min(n, 1000))  # warm
            for fn, count in ((trivial, n), (burn, m)):
                before = dask.cpu()
                rates.setdefault("Dask", {}).setdefault(fn.__name__, []).append(dask.map_rate(fn, count))
                cpu.setdefault("Dask", {})[fn.__name__] = {
                    k: (v - before[k]) * 1000 / count for k, v in dask.cpu().items()
                }
            c.console.print(f"[dim]{len(hosts)} host(s): {json.dumps(rates)}  load {os.getloadavg()[0]:.2f}[/dim]")
    return {"rates": rates, "containers": spread, "cpu_per_1k": cpu}


def bench_restart(tmp: Path, host: netns.Host, stores: list[str], reps: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    with h.postgres_databases(["restart"] if "postgres" in stores else []) as urls:
        for store in stores:
            cluster = h.nano_cluster(
                tmp / f"restart-{store}", [host], urls.get("restart") if store == "postgres" else None
            )
            calls = cluster.state_dir / "calls"
            calls.mkdir()
            try:
                h.run_client(cluster, DEPLOY)
                caller = cluster.run_client(CALLER, str(calls))
                ready = calls / "ready"
                wait_until("the caller's first call", lambda: ready.exists() or caller.poll() is not None)  # noqa: B023
                assert caller.poll() is None, cluster.client_log(1)
                found = results[store] = {}
                for i in range(1, 2 * reps + 1):  # alternately: called during the outage, once Hello answers
                    early = i % 2 == 1
                    hello, remote = h.restart_until_served(cluster, calls, i, call_during_outage=early)
                    found.setdefault("Hello answered", []).append(hello)
                    key = ".remote() returns, " + ("called during the outage" if early else "called once Hello answers")
                    found.setdefault(key, []).append(remote)
                (calls / f"go{2 * reps + 1}").write_text("stop")
                assert caller.wait(30) == 0, cluster.client_log(1)
            finally:
                cluster.close()
    return results


def reassign_round(cluster: FaultCluster, n: int, doomed_host: netns.Host | None, r: int) -> dict[str, float]:
    """A map of n steps; worker 0's host loses power a third of the way through (unless None)."""
    marks, progress = cluster.state_dir / f"marks{r}", cluster.state_dir / f"progress{r}"
    marks.touch()
    client = cluster.run_client(STEPS, str(n), str(marks), str(progress))
    doomed = cluster.workers[0]
    if doomed_host is None:
        out = h.client_result(cluster, client)
        return {"map": out["end"] - out["start"]}

    def under_way() -> bool:
        assert client.poll() is None, cluster.client_log(len(cluster.clients) - 1)
        started_there = f" {doomed.pid} " in marks.read_text()
        return started_there and progress.exists() and int(progress.read_text() or 0) >= n // 3

    wait_until("a third of the map, partly on the doomed worker", under_way, timeout=120, interval=0.01)
    doomed_host.power_off()  # the worker and its containers (the process runtime would leave them running)
    killed = time.time()
    doomed.wait()
    out = h.client_result(cluster, client)
    assert sorted(x for x, _ in out["results"]) == list(range(n)), "lost or repeated inputs"
    done_by = {x: pid for x, pid in out["results"]}
    started: dict[int, list[tuple[float, int]]] = {}
    for line in marks.read_text().splitlines():
        x, pid, at = line.split()
        started.setdefault(int(x), []).append((float(at), int(pid)))
    held = [x for x, runs in started.items() if any(p == doomed.pid for _, p in runs) and done_by[x] != doomed.pid]
    elsewhere = [min(at for at, p in started[x] if p != doomed.pid and at > killed) for x in held]
    prefix = f"worker {cluster.worker_id(0)} ("
    dead = [line for line in cluster.server_log().splitlines() if prefix in line and "declaring it dead" in line]
    return {
        "map": out["end"] - out["start"],
        "declared dead": h.log_time(dead[-1]) - killed,
        "held inputs running elsewhere": max(elsewhere) - killed if elsewhere else float("nan"),
        "held": float(len(held)),
    }


def bench_reassign(tmp: Path, hosts: list[netns.Host], n: int, reps: int, timeout: float) -> dict[str, list[float]]:
    """Interleaved rounds with and without the kill, each on a fresh server and two workers."""
    results: dict[str, list[float]] = {}
    for r in range(2 * reps):
        kill = r % 2 == 1
        cluster = h.nano_cluster(tmp / f"reassign{r}", hosts, None, NANO_MODAL_WORKER_TIMEOUT=f"{timeout:g}")
        try:
            for key, value in reassign_round(cluster, n, hosts[0] if kill else None, r).items():
                results.setdefault(key if kill else "map without a kill", []).append(value)
        finally:
            cluster.close()
    return results


def stats(values: list[float], fmt: Any = c.fmt_s) -> tuple[str, str]:
    return fmt(c.median(values)), " / ".join(fmt(v) for v in values)


def report_map(by_hosts: dict[int, dict[str, Any]], n: int) -> None:
    rows = []
    for count, found in by_hosts.items():
        dask = found["rates"]["Dask"]
        for system, rates in found["rates"].items():
            spread = found["containers"].get(system, {})
            rows.append(
                (
                    f"{count} host{'s' if count > 1 else ''}, {system}",
                    *stats(rates["trivial"], c.fmt_rate),
                    c.ratio(c.median(rates["trivial"]), c.median(dask["trivial"])),
                    *stats(rates["burn"], c.fmt_rate),
                    c.ratio(c.median(rates["burn"]), c.median(dask["burn"])),
                    " | ".join("/".join(map(str, per)) for per in spread.values()) or "-",
                )
            )
    c.table(
        f".map of {n:,} trivial inputs and {n // 10:,} inputs of 10 ms CPU, worker hosts in network namespaces",
        ["hosts, system", "trivial", "rounds", "vs Dask", "10 ms CPU", "rounds", "vs Dask", "containers per worker"],
        rows,
        caption="containers per worker (last round): trivial | 10 ms CPU, one number per host",
    )


def report_cpu(by_hosts: dict[int, dict[str, Any]]) -> None:
    roles = ["client", "server", "scheduler", "postgres", "workers", "containers"]
    rows = []
    for count, found in by_hosts.items():
        for system, per_fn in found["cpu_per_1k"].items():
            for fn, used in per_fn.items():
                wall = 1000 / found["rates"][system][fn][-1]
                rows.append(
                    (
                        f"{count} host{'s' if count > 1 else ''}, {system}, {fn}",
                        *(f"{used[r]:.2f}" if r in used else "" for r in roles),
                        f"{sum(used.values()):.2f}",
                        f"{wall:.2f}",
                    )
                )
    c.table(
        "CPU seconds per 1,000 inputs by process (last round); 2 cores give at most 2 CPU seconds per wall second",
        ["hosts, system, function", *roles, "total", "wall s"],
        rows,
    )


def main() -> None:
    args = c.parse_args(
        __doc__.splitlines()[0],
        [
            (("-n",), {"type": int, "default": 4000, "help": "trivial inputs per map (N/10 of 10 ms CPU)"}),
            (("--reps",), {"type": int, "default": 3, "help": "interleaved rounds"}),
            (("--hosts",), {"default": "1,2,3", "help": "host counts for the map throughput"}),
            (("--store",), {"default": "sqlite,postgres", "help": "nano-modal stores to compare"}),
            (("--only",), {"default": "map,restart,reassign", "help": "sections to run"}),
            (("--worker-timeout",), {"type": float, "default": 3.0, "help": "NANO_MODAL_WORKER_TIMEOUT for reassign"}),
        ],
    )
    if netns.available() is not None:
        raise SystemExit(f"bench_hosts needs network namespaces: {netns.available()}")
    n, reps = (1000, 1) if args.quick else (args.n, args.reps)
    counts = [int(x) for x in args.hosts.split(",")]
    stores, sections = args.store.split(","), args.only.split(",")
    for name, given, known in (("--store", stores, {"sqlite", "postgres"}), ("--only", sections, SECTIONS)):
        if not set(given) <= known:
            raise SystemExit(
                f"{name}: unknown {', '.join(sorted(set(given) - known))} (choose from {', '.join(known)})"
            )
    c.temp_home()
    results: dict[str, Any] = {"command": " ".join(sys.argv), "load_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp, netns.hosts(max([*counts, 2])) as hosts:
        if "map" in sections:
            results["map"] = {k: bench_map(Path(tmp) / f"map{k}", hosts[:k], stores, n, reps) for k in counts}
            report_map(results["map"], n)
            report_cpu(results["map"])
        if "restart" in sections:
            results["restart_s"] = restart = bench_restart(Path(tmp), hosts[0], stores, max(reps, 3))
            c.table(
                "server restart (SIGKILL, start again on the same store): from launch",
                ["store, until", "median", "rounds"],
                [(f"{store}, {k}", *stats(v)) for store, found in restart.items() for k, v in found.items()],
            )
        if "reassign" in sections:
            results["reassign_s"] = got = bench_reassign(Path(tmp), hosts[:2], n // 5, reps, args.worker_timeout)
            base = c.median(got["map without a kill"])
            rows = [(k, *stats(v)) for k, v in got.items() if k != "held"]
            rows.append(("delay of the map (medians)", c.fmt_s(c.median(got["map"]) - base), ""))
            c.table(
                f"kill -9 one of two workers mid-map (WORKER_TIMEOUT={args.worker_timeout:g} s): from the kill",
                ["", "median", "rounds"],
                rows,
                caption=f"inputs held by the dead worker: {' / '.join(f'{x:.0f}' for x in got['held'])}",
            )
    results["load_end"] = os.getloadavg()
    c.console.print(f"[dim]load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}[/dim]")
    c.write_json(args.json, "bench_hosts", results)


if __name__ == "__main__":
    main()
