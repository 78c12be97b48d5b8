"""Clusters on namespaced hosts for bench_hosts.py: nano-modal (tests/faults machinery) and Dask.

Each host is a network namespace with its own veth link and address (tests/faults/netns.py);
servers and schedulers run in the root namespace and listen on every address, so each host
reaches them over its own link, and the benchmark's clients over loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import _common as c

sys.path.insert(0, str(c.REPO))
from nano_modal.proto import api_pb2
from tests import pg
from tests.faults import netns
from tests.faults.cluster import FaultCluster, stop, wait_until


def nano_cluster(state_dir: Path, hosts: list[netns.Host], store_url: str | None, **env: str) -> FaultCluster:
    """A server in the root namespace (SQLite in `state_dir`, or `store_url`) and a worker on each host."""
    cluster = FaultCluster(state_dir, store_url, listen_host="0.0.0.0", overrides=env)
    state_dir.mkdir(parents=True)
    try:
        cluster.start_server()
        for host in hosts:
            cluster.start_worker_on(host)
    except BaseException:
        cluster.close()
        raise
    return cluster


def containers_per_worker(cluster: FaultCluster, app_id: str) -> dict[str, list[int]]:
    """Per function of `app_id`: how many containers the scheduler placed on each worker, in start order."""
    listed = cluster.rpc("ContainerList", api_pb2.ContainerListRequest(include_finished=True)).containers
    by_worker = {cluster.worker_id(i): i for i in range(len(cluster.workers))}
    counts: dict[str, Counter[int]] = {}
    for container in listed:
        if container.app_id == app_id:
            counts.setdefault(container.function_name, Counter())[by_worker[container.worker_id]] += 1
    return {fn: [found[i] for i in range(len(cluster.workers))] for fn, found in counts.items()}


def run_client(cluster: FaultCluster, source: str, *args: str) -> dict[str, Any]:
    """Run a client program to the end; return the JSON it printed after 'RESULT'."""
    return client_result(cluster, cluster.run_client(source, *args))


def client_result(cluster: FaultCluster, client: subprocess.Popen[bytes], timeout: float = 600) -> dict[str, Any]:
    """Wait for a client program started by `cluster`; return the JSON it printed after 'RESULT'."""
    try:
        code = client.wait(timeout)
    except subprocess.TimeoutExpired:
        client.kill()
        raise
    text = cluster.client_log(cluster.clients.index(client))
    assert code == 0 and "RESULT" in text, text[-3000:]
    result: dict[str, Any] = json.loads(text.split("RESULT", 1)[1].splitlines()[0])
    return result


def log_time(line: str) -> float:
    """Wall time of a server/worker log line ('2026-11-23 19:31:14,123 nano_modal...', local time)."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


@contextlib.contextmanager
def postgres_databases(names: list[str]) -> Iterator[dict[str, str]]:
    """One real PostgreSQL (tests/pg.py) holding an empty database per name: {name: URL}."""
    if not names:
        yield {}
        return
    import sqlalchemy as sa

    with pg.postgres_server() as url:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as db:
            for name in names:
                db.execute(sa.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        base = url.rsplit("/", 1)[0]
        yield {name: f"{base}/{name}" for name in names}


class DaskHosts:
    """A Dask scheduler in the root namespace and `dask worker --nworkers procs --nthreads 1` on each host."""

    def __init__(self, log_dir: Path, hosts: list[netns.Host], procs: int) -> None:
        from distributed import Client

        log_dir.mkdir(parents=True, exist_ok=True)
        port = c.free_port("0.0.0.0")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": (log_dir / "dask.log").open("ab")}
        cli = [sys.executable, "-m"]
        self.procs = [
            subprocess.Popen(
                [*cli, "distributed.cli.dask_scheduler", "--host", "0.0.0.0", "--port", str(port), "--no-dashboard"],
                **quiet,  # type: ignore[call-overload]
            )
        ]
        for host in hosts:
            self.procs.append(
                subprocess.Popen(
                    [
                        *host.exec_prefix(),
                        *cli,
                        "distributed.cli.dask_worker",
                        f"tcp://{host.server_address}:{port}",
                        "--nworkers",
                        str(procs),
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--memory-limit",
                        "0",
                    ],
                    **quiet,  # type: ignore[call-overload]
                )
            )
        self.client = Client(f"tcp://127.0.0.1:{port}", timeout=60)
        self.client.wait_for_workers(len(hosts) * procs, timeout=120)

    def map_rate(self, fn: Any, n: int) -> float:
        t0 = time.perf_counter()
        futures = self.client.map(fn, range(n), pure=False)
        assert len(self.client.gather(futures)) == n
        return n / (time.perf_counter() - t0)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the client (this process), the scheduler, and the workers with their nannies."""
        me = resource.getrusage(resource.RUSAGE_SELF)
        workers = sum(_own(p) for w in self.procs[1:] for p in [w.pid, *c.descendants(w.pid)])
        return {"client": me.ru_utime + me.ru_stime, "scheduler": _own(self.procs[0].pid), "workers": workers}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        for proc in reversed(self.procs):
            stop(proc)


def restart_until_served(
    cluster: FaultCluster, caller_dir: Path, i: int, call_during_outage: bool
) -> tuple[float, float]:
    """SIGKILL the server and start it again; the waiting caller calls `.remote()` during the outage
    (its call retries with the SDK's backoff) or once the new server answers Hello.

    Returns the seconds from the new server's launch until it answers Hello, and until the call returns.
    """
    cluster.kill_server()
    go = caller_dir / f"go{i}"
    if call_during_outage:
        go.write_text("call")
    launched = time.time()
    starting = threading.Thread(target=cluster.start_server)
    starting.start()
    hello = None
    while hello is None:
        with contextlib.suppress(Exception):
            cluster.rpc("Hello", api_pb2.HelloRequest(), timeout=1)
            hello = time.time()
        if hello is None:
            time.sleep(0.005)
    go.write_text("call")
    starting.join()
    done = caller_dir / f"done{i}"
    wait_until("the caller's .remote() after the restart", done.exists, timeout=120, interval=0.01)
    return hello - launched, float(done.read_text()) - launched


def client_step(cluster: FaultCluster, client: subprocess.Popen[bytes], steps: Path, step: str) -> dict[str, float]:
    """Wait for the client program to reach `step`, read the CPU times (`cpu`), let it go on."""
    wait_until(
        f"the client to reach {step!r}", lambda: (steps / step).exists() or client.poll() is not None, 600, 0.002
    )
    assert client.poll() is None, cluster.client_log(cluster.clients.index(client))[-3000:]
    used = cpu(cluster, client.pid)
    (steps / f"{step}.ack").write_text("")
    return used


def cpu(cluster: FaultCluster, client: int) -> dict[str, float]:
    """CPU seconds so far, by role; containers that exited count through their worker (which reaped them)."""
    assert cluster.server is not None
    used = {"client": _own(client), "server": _own(cluster.server.pid), "workers": 0.0, "containers": 0.0}
    for worker in cluster.workers:
        used["workers"] += _own(worker.pid)
        used["containers"] += _reaped(worker.pid) + sum(_own(p) + _reaped(p) for p in c.descendants(worker.pid))
    if cluster.store_url is not None:
        used["postgres"] = sum(_own(p) + _reaped(p) for p in c.descendants(1) if c.cmdline(p).startswith("postgres"))
    return used


def _own(pid: int) -> float:
    return c.cpu_seconds(pid)


def _reaped(pid: int) -> float:
    """CPU seconds of `pid`'s children that exited and were waited for (cutime + cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
