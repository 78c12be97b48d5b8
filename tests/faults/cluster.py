"""Real server, worker and client processes, to kill and restart on purpose (fault tests, bench_faults.py).

Timeouts that the code reads from the environment are lowered here (a dead worker after
5 s instead of 15 s) so that the tests do not wait needlessly; the production defaults stay.
Every wait polls for a condition; nothing sleeps to synchronize.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from nano_modal import config
from nano_modal.proto import api_pb2, api_pb2_grpc
from tests.conftest import REPO, stop
from tests.faults import netns

FAST_TIMEOUTS = {
    # A live worker polls every third of this: 5 s leaves room for a loaded 2-core machine.
    "NANO_MODAL_WORKER_TIMEOUT": "5",
    "NANO_MODAL_RECONNECT_TIMEOUT": "90",
}


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.1) -> None:
    """Poll `predicate`; fail naming `what` if it is still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == str(pid) and not fields.get("State", "").startswith("Z"):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class FaultCluster:
    """A server on a fixed port (so it can be restarted at the same address) and its workers."""

    state_dir: Path
    store_url: str | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    followers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    clients: list[subprocess.Popen[bytes]] = field(default_factory=list)
    host: str = "127.0.0.1"  # the server's address as clients see it
    listen_host: str | None = None  # where the server listens, when not `host` ("0.0.0.0" for namespaced hosts)
    overrides: dict[str, str] = field(default_factory=dict)  # environment of every process it starts

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        return {
            **os.environ,
            **FAST_TIMEOUTS,
            "NANO_MODAL_SERVER_URL": self.url,
            "NANO_MODAL_TOKEN": self.token,
            "NANO_MODAL_HOME": str(self.state_dir / "home"),
            "PYTHONPATH": pythonpath,
            **self.overrides,
        }

    def start_server(self) -> None:
        port_file = self.state_dir / "port"
        port_file.unlink(missing_ok=True)
        args = ["--host", self.listen_host or self.host, "--port", str(self.port), "--state-dir", str(self.state_dir)]
        args += ["--port-file", str(port_file)] + (["--store", self.store_url] if self.store_url else [])
        log = (self.state_dir / "server.log").open("ab")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "nano_modal.server", *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = self.server
        wait_until(
            "the server to listen",
            lambda: server.poll() is not None or (port_file.exists() and bool(port_file.read_text().strip())),
            timeout=60,
        )
        assert server.poll() is None, self.server_log()
        self.port = int(port_file.read_text())

    def start_follower(self, *prefix: str, host: str = "127.0.0.1", state_dir: Path | None = None) -> int:
        """Another server on this cluster's store, a follower while the first is active; its
        port. `prefix` runs it elsewhere; its log is follower.log."""
        port_file = self.state_dir / "port-follower"
        port_file.unlink(missing_ok=True)
        store = self.store_url or f"sqlite:///{self.state_dir / 'state.db'}"
        args = ["--host", host, "--port", "0", "--state-dir", str(state_dir or self.state_dir)]
        args += ["--port-file", str(port_file), "--store", store]
        log = self.state_dir / "follower.log"
        self.followers.append(
            subprocess.Popen(
                [*prefix, sys.executable, "-m", "nano_modal.server", *args],
                env={**self.env(), "NANO_MODAL_ADVERTISE": ""},  # its own address, not the first server's
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
            )
        )
        wait_until("the second server to serve as a follower", lambda: "follower on" in log.read_text(errors="replace"))
        return int(port_file.read_text())

    def follower_log(self) -> str:
        return (self.state_dir / "follower.log").read_text(errors="replace")

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()

    def server_log(self) -> str:
        return (self.state_dir / "server.log").read_text(errors="replace")

    def start_worker(self, *prefix: str, runtime: str = "process") -> subprocess.Popen[bytes]:
        """A worker (`process` runtime unless told); `prefix` runs it elsewhere, e.g. ("ip", "netns", "exec", "ns1")."""
        log = (self.state_dir / f"worker{len(self.workers)}.log").open("ab")
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "nano_modal.worker", "--server", self.url, "--runtime", runtime],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        path = Path(log.name)
        wait_until(
            "the worker to register",
            lambda: proc.poll() is not None or "registered as" in path.read_text(errors="replace"),
            timeout=60,
        )
        assert proc.poll() is None, path.read_text(errors="replace")
        return proc

    def start_worker_on(self, host: netns.Host) -> subprocess.Popen[bytes]:
        """A worker on a namespaced host: it reaches the server over that host's link."""
        clients_see, self.host = self.host, host.server_address
        try:
            return self.start_worker(*host.exec_prefix())
        finally:
            self.host = clients_see

    def worker_id(self, index: int) -> str:
        """The id the server gave worker `index` (from its log)."""
        text = (self.state_dir / f"worker{index}.log").read_text(errors="replace")
        return text.split("registered as ", 1)[1].split()[0]

    def declared_dead(self, index: int) -> bool:
        """Whether the server's log says it declared worker `index` dead."""
        prefix = f"worker {self.worker_id(index)} ("
        return any(prefix in line and "is silent; declaring it dead" in line for line in self.server_log().splitlines())

    def run_client(self, source: str, *args: str) -> subprocess.Popen[bytes]:
        """Start `source` as a client program; its output goes to client<N>.log."""
        path = self.state_dir / f"client{len(self.clients)}.py"
        path.write_text(textwrap.dedent(source))
        log = (self.state_dir / f"client{len(self.clients)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, str(path), *args], env=self.env(), cwd=self.state_dir, stdout=log, stderr=subprocess.STDOUT
        )
        self.clients.append(proc)
        return proc

    def client_log(self, n: int = 0) -> str:
        return (self.state_dir / f"client{n}.log").read_text(errors="replace")

    def rpc(self, method: str, request: Any, timeout: float = 10) -> Any:
        with grpc.insecure_channel(self.url) as channel:
            stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
            return getattr(stub, method)(request, metadata=((config.TOKEN_METADATA_KEY, self.token),), timeout=timeout)

    def apps(self) -> list[api_pb2.AppSummary]:
        return list(self.rpc("AppList", api_pb2.AppListRequest()).apps)

    def close(self) -> None:
        """Stop every process it started, containers included (a killed worker leaves orphans)."""
        for proc in [*self.clients, *self.workers]:
            for child in children(proc.pid):
                os.kill(child, signal.SIGKILL)
            stop(proc)
        for proc in self.followers:
            stop(proc)
        if self.server is not None:
            stop(self.server)


# A client program: maps `work` over range(N) and writes progress and results as JSON.
MAP_CLIENT = """
import json, os, sys, time
from pathlib import Path
import nano_modal

app = nano_modal.App("faults")


@app.function(max_containers=int(os.environ.get("FAULT_MAX_CONTAINERS", "4")))
def work(x: int) -> list[int]:
    time.sleep(float(os.environ.get("FAULT_SLEEP", "0.004")))
    return [x * x, os.getppid(), os.getpid()]


@app.function()
def slow(x: int) -> int:
    time.sleep(1.0)
    return x + 1


if __name__ == "__main__":
    n, ordered, out = int(sys.argv[1]), sys.argv[2] == "ordered", Path(sys.argv[3])
    with app.run():
        spawned = slow.spawn(41)
        (out.parent / "spawned").write_text(spawned.object_id)
        results, hosts = [], set()
        for value in work.map(range(n), order_outputs=ordered):
            results.append(value)
            hosts.add(value[1])
            if len(results) % 250 == 0:
                progress = {"count": len(results), "hosts": sorted(hosts)}
                (out.parent / "progress.tmp").write_text(json.dumps(progress))
                (out.parent / "progress.tmp").replace(out.parent / "progress")
        spawned_value = spawned.get(timeout=120)
    out.write_text(json.dumps({"results": results, "spawned": spawned_value}))
"""


def progress(cluster: FaultCluster) -> dict[str, Any]:
    path = cluster.state_dir / "progress"
    return json.loads(path.read_text()) if path.exists() else {"count": 0, "hosts": []}


def check_exactly_once(results: list[list[int]], n: int, ordered: bool) -> None:
    """Every input has exactly one result; in input order when the map was ordered."""
    squares = [r[0] for r in results]
    expected = [x * x for x in range(n)]
    assert len(squares) == n, f"{len(squares)} results for {n} inputs"
    assert sorted(squares) == expected, "missing or duplicated results"
    if ordered:
        assert squares == expected, "results out of input order"


def sqlite_duplicate_outputs(state_dir: Path) -> list[tuple[str, int, int]]:
    """(call, idx, count) of inputs with more than one final output in the server's SQLite store."""
    with sqlite3.connect(state_dir / "state.db") as db:
        return list(
            db.execute(
                "SELECT call_id, idx, COUNT(*) FROM outputs WHERE final GROUP BY call_id, idx HAVING COUNT(*) > 1"
            )
        )


def wait_under_way(cluster: FaultCluster, client: subprocess.Popen[bytes], count: int, hosts: set[int]) -> None:
    """Until MAP_CLIENT has `count` results, some of them from each worker pid in `hosts`."""

    def under_way() -> bool:
        assert client.poll() is None, cluster.client_log()
        seen = progress(cluster)
        return bool(seen["count"] >= count and hosts <= set(seen["hosts"]))

    wait_until(f"the map to be under way on {len(hosts) or 'any'} worker(s)", under_way, timeout=120)


def finish_map(cluster: FaultCluster, client: subprocess.Popen[bytes], n: int, ordered: bool) -> dict[str, Any]:
    """Wait for MAP_CLIENT to exit; check every input got exactly one result; return what it wrote."""
    wait_until("the map to finish", lambda: client.poll() is not None, timeout=180)
    assert client.returncode == 0, cluster.client_log()
    done: dict[str, Any] = json.loads((cluster.state_dir / "results.json").read_text())
    check_exactly_once(done["results"], n, ordered)
    assert done["spawned"] == 42
    if cluster.store_url is None:
        assert sqlite_duplicate_outputs(cluster.state_dir) == []
    return done
