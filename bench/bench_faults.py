"""Recovery times and the cost of PostgreSQL, on real processes.

    python bench/bench_faults.py [--quick] [--json FILE]

* server restart: SIGKILL the server, start it again on the same state; time from the new
  process's launch until it answers `Hello` (idle state, and with 10,000 queued inputs to
  recover from the store).
* dead worker: a worker holding an input is killed with SIGKILL; time from the kill until
  the caller has the input's result, run again on the other worker. Run with
  NANO_MODAL_WORKER_TIMEOUT=3 (the production default is 15 s): the table shows the total
  the total minus the timeout. The worker's last poll came up to WORKER_TIMEOUT/3 before the
  kill (a poll is held that long), so detection itself takes 2/3 to 1 timeout after it; then a
  container starts on the other worker and runs the input.
* map throughput of 20,000 trivial inputs on a PostgreSQL store vs the SQLite default,
  each with its own server and worker, measured in interleaved rounds.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c

sys.path.insert(0, str(c.REPO))
from tests import pg
from tests.faults.cluster import FaultCluster, wait_until

WORKER_TIMEOUT = 3.0

MAP = """
import sys, time
import nano_modal

app = nano_modal.App("bench-faults")


@app.function()
def f(x: int) -> int:
    return x


if __name__ == "__main__":
    with app.run():
        list(f.map(range(1000)))  # warm: containers up
        t0 = time.perf_counter()
        assert len(list(f.map(range(int(sys.argv[1]))))) == int(sys.argv[1])
        print("elapsed", time.perf_counter() - t0)
"""

BACKLOG = """
import sys
import nano_modal

app = nano_modal.App("bench-backlog")


@app.function(max_containers=1)
def slow(x: int) -> int:
    import time
    time.sleep(3600)
    return x


if __name__ == "__main__":
    app.deploy(name="bench-backlog")
    slow.spawn_map(range(int(sys.argv[1])))
    print("queued")
"""

REASSIGN = """
import os, sys, time
from pathlib import Path
import nano_modal

app = nano_modal.App("bench-reassign")


@app.function()
def f(hang_file: str) -> int:
    # Hangs on the worker named in hang_file (so it is holding the input when killed).
    if Path(hang_file).read_text().strip() == str(os.getppid()):
        Path(hang_file + ".running").write_text("1")
        time.sleep(3600)
    return os.getppid()


if __name__ == "__main__":
    with app.run():
        call = f.spawn(sys.argv[1])
        print("ran on", call.get(timeout=300))
        print("done at", time.time())
"""


def serving_after_restart(cluster: FaultCluster) -> float:
    cluster.kill_server()
    t0 = time.perf_counter()
    cluster.start_server()
    wait_until("Hello", lambda: _hello(cluster), timeout=60, interval=0.005)
    return time.perf_counter() - t0


def _hello(cluster: FaultCluster) -> bool:
    from nano_modal.proto import api_pb2

    try:
        cluster.rpc("Hello", api_pb2.HelloRequest(), timeout=2)
        return True
    except Exception:
        return False


def bench_restart(reps: int, backlog: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cluster = FaultCluster(Path(tmp))
        cluster.state_dir.mkdir(exist_ok=True)
        try:
            cluster.start_server()
            results["idle state"] = [serving_after_restart(cluster) for _ in range(reps)]
            client = cluster.run_client(BACKLOG, str(backlog))
            assert client.wait(120) == 0, cluster.client_log()
            results[f"{backlog:,} queued inputs"] = [serving_after_restart(cluster) for _ in range(reps)]
            assert f"recovered {backlog}" in cluster.server_log()
        finally:
            cluster.close()
    return results


def bench_reassign(reps: int) -> list[float]:
    samples = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            cluster = FaultCluster(Path(tmp), overrides={"NANO_MODAL_WORKER_TIMEOUT": str(WORKER_TIMEOUT)})
            cluster.state_dir.mkdir(exist_ok=True)
            try:
                cluster.start_server()
                doomed = cluster.start_worker()
                hang = cluster.state_dir / "hang"
                hang.write_text(str(doomed.pid))
                client = cluster.run_client(REASSIGN, str(hang))
                running = cluster.state_dir / "hang.running"
                wait_until("the input to run on the doomed worker", running.exists, 60)
                cluster.start_worker()
                os.kill(doomed.pid, signal.SIGKILL)
                killed_at = time.time()
                assert client.wait(120) == 0, cluster.client_log()
                done_at = float(cluster.client_log().split("done at")[-1].split()[0])
                samples.append(done_at - killed_at)
            finally:
                cluster.close()
    return samples


def bench_map(n: int, rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"SQLite (embedded file)": [], "PostgreSQL (local)": []}
    with tempfile.TemporaryDirectory() as tmp, pg.postgres_server() as url:
        clusters = {
            "SQLite (embedded file)": FaultCluster(Path(tmp) / "sqlite"),
            "PostgreSQL (local)": FaultCluster(Path(tmp) / "pg", url),
        }
        try:
            for cluster in clusters.values():
                cluster.state_dir.mkdir()
                cluster.start_server()
                cluster.start_worker()
            for _ in range(rounds):
                for name, cluster in clusters.items():
                    log = len(cluster.clients)
                    client = cluster.run_client(MAP, str(n))
                    assert client.wait(600) == 0, cluster.client_log(log)
                    elapsed = float(cluster.client_log(log).split("elapsed")[-1].split()[0])
                    rates[name].append(n / elapsed)
        finally:
            for cluster in clusters.values():
                cluster.close()
    return rates


def main() -> None:
    args = c.parse_args(__doc__.splitlines()[0])
    reps, backlog, n, rounds = (2, 2000, 5000, 1) if args.quick else (5, 10_000, 20_000, 3)
    c.temp_home()
    results: dict[str, Any] = {}

    restart = bench_restart(reps, backlog)
    results["restart_s"] = restart
    c.table(
        "server restart (SIGKILL, start again): launch to serving",
        ["state", "median", "min", "max"],
        [(k, c.fmt_s(c.median(v)), c.fmt_s(min(v)), c.fmt_s(max(v))) for k, v in restart.items()],
    )

    reassign = bench_reassign(max(2, reps - 2))
    results["reassign_s"] = reassign
    c.table(
        f"dead worker: kill -9 to the caller's result (NANO_MODAL_WORKER_TIMEOUT={WORKER_TIMEOUT:g})",
        ["", "median", "min", "max", "median - timeout"],
        [
            (
                "reassigned input",
                *(c.fmt_s(x) for x in (c.median(reassign), min(reassign), max(reassign))),
                c.fmt_s(c.median(reassign) - WORKER_TIMEOUT),
            )
        ],
    )

    rates = bench_map(n, rounds)
    results["map_rate"] = rates
    base = c.median(rates["SQLite (embedded file)"])
    c.table(
        f".map of {n:,} trivial inputs, one worker, {rounds} interleaved rounds",
        ["store", "median", "rounds", "vs SQLite"],
        [
            (k, c.fmt_rate(c.median(v)), " / ".join(c.fmt_rate(x) for x in v), c.ratio(c.median(v), base))
            for k, v in rates.items()
        ],
    )
    c.write_json(args.json, "bench_faults", results)


if __name__ == "__main__":
    main()
