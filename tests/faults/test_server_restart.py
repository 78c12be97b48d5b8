"""The server (or its PostgreSQL) killed in the middle of a map: the map completes, exactly once."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import pg
from tests.faults.cluster import MAP_CLIENT, FaultCluster, finish_map, progress, wait_under_way, wait_until

N = 3_000
FETCH = """
import sys
import nano_modal

print(nano_modal.FunctionCall.from_id(sys.argv[1]).get(timeout=60))
"""
# A blocking .remote() (one fast-lane exchange on the caller's thread) whose server is killed
# while the function runs.
REMOTE_CLIENT = """
import sys
import time
from pathlib import Path

import nano_modal

app = nano_modal.App("faults-remote")


@app.function()
def slow(started: str) -> str:
    Path(started).write_text("running")
    time.sleep(3.0)
    return "done"


if __name__ == "__main__":
    with app.run():
        print(slow.remote(sys.argv[1]))
"""


@contextmanager
def store(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
        return
    if not pg.available():
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs it (apt-get install postgresql)")
    with pg.postgres_server() as url:
        yield url


def start_map(cluster: FaultCluster) -> subprocess.Popen[bytes]:
    cluster.start_server()
    cluster.start_worker()
    client = cluster.run_client(MAP_CLIENT, str(N), "ordered", str(cluster.state_dir / "results.json"))
    wait_under_way(cluster, client, 500, set())
    return client


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.slow(reason="two server starts and a 3,000-input map (~25 s)")
@pytest.mark.timeout(240)
def test_server_killed_mid_map(fault_cluster: Callable[..., FaultCluster], kind: str) -> None:
    with store(kind) as url:
        cluster = fault_cluster(url)
        client = start_map(cluster)
        cluster.kill_server()
        assert client.poll() is None and progress(cluster)["count"] < N
        cluster.start_server()  # same port, same state: the client and worker reconnect by themselves
        finish_map(cluster, client, N, ordered=True)
        assert "recovered" in cluster.server_log()
        # A spawned call outlives the restart: fetch it by id from a new client.
        fetch = cluster.run_client(FETCH, (cluster.state_dir / "spawned").read_text())
        assert fetch.wait(60) == 0, cluster.client_log(1)
        assert cluster.client_log(1).split()[-1] == "42"


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL is not installed (scripts/test.sh installs it)")
@pytest.mark.slow(reason="PostgreSQL restarted under a running map (~20 s)")
@pytest.mark.timeout(240)
def test_postgres_restarted_under_load(fault_cluster: Callable[..., FaultCluster]) -> None:
    with pg.postgres_server() as url:
        cluster = fault_cluster(url)
        client = start_map(cluster)
        restarting = threading.Thread(target=pg.restart, args=(url,))
        restarting.start()  # the server keeps taking calls meanwhile; its store waits for the DB
        restarting.join(60)
        assert not restarting.is_alive()
        finish_map(cluster, client, N, ordered=True)
        assert cluster.server is not None and cluster.server.poll() is None, cluster.server_log()
        assert "state store unreachable" in cluster.server_log()


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL is not installed (scripts/test.sh installs it)")
@pytest.mark.slow(reason="PostgreSQL down past the server's bound, the server restarted (~25 s)")
@pytest.mark.timeout(240)
def test_postgres_outage_past_the_bound(fault_cluster: Callable[..., FaultCluster]) -> None:
    """The server exits (code 75) rather than run ahead of its store; restarted, it finishes the map."""
    with pg.postgres_server() as url:
        cluster = fault_cluster(url, overrides={"NANO_MODAL_STORE_RETRY_TIMEOUT": "2"})
        client = start_map(cluster)
        pg.control(url, "stop")
        server = cluster.server
        assert server is not None
        wait_until("the server to give up on its store", lambda: server.poll() is not None, timeout=60)
        assert server.returncode == 75, cluster.server_log()
        assert "state store unreachable for 2s" in cluster.server_log()
        pg.control(url, "start")
        cluster.start_server()  # what systemd or Compose would do
        finish_map(cluster, client, N, ordered=True)


# A function that fails on every attempt, noting each one; retried once, a minute later.
ALWAYS_FAILS = """
import sys
from pathlib import Path
import nano_modal

app = nano_modal.App("retry-budget")


@app.function(retries=nano_modal.Retries(max_retries=1, initial_delay=60.0))
def always_fails(path: str) -> None:
    with open(path, "a") as f:
        f.write("attempt\\n")
    raise RuntimeError("fails every time")


if __name__ == "__main__":
    attempts = Path(sys.argv[1])
    with app.run():
        call = always_fails.spawn(str(attempts))
        try:
            call.get(timeout=45)  # well before a second retry a minute later
        except Exception as exc:
            print("raised", type(exc).__name__, exc)
"""


def attempts_recorded(db: Path) -> int:
    """The highest attempt the store holds for any input (0 before the database exists)."""
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        return int(conn.execute("SELECT coalesce(max(attempt), 0) FROM inputs").fetchone()[0])


@pytest.mark.slow(reason="a server restart between two attempts of an input (~15 s)")
@pytest.mark.timeout(240)
def test_a_restart_does_not_refill_an_inputs_retry_budget(fault_cluster: Callable[..., FaultCluster]) -> None:
    """The attempts an input used are durable: after a restart it gets only what is left of its
    retries (its attempt count used to live in memory only, so a restart gave it all again)."""
    cluster = fault_cluster()
    cluster.start_server()
    cluster.start_worker()
    attempts = cluster.state_dir / "attempts"
    client = cluster.run_client(ALWAYS_FAILS, str(attempts))
    # Durable, not merely logged: an attempt whose failure the store never saw was never
    # acknowledged, so it may run again (the log line comes before the commit).
    wait_until("the first attempt to be durable", lambda: attempts_recorded(cluster.state_dir / "state.db") >= 1)
    cluster.kill_server()
    cluster.start_server()  # recovers the input with its attempt: it runs its one retry now
    assert client.wait(120) == 0, cluster.client_log()
    assert "raised RuntimeError fails every time" in cluster.client_log(), cluster.client_log()
    assert attempts.read_text().splitlines() == ["attempt", "attempt"]


@pytest.mark.slow(reason="a server restart under a running .remote() (~20 s)")
@pytest.mark.timeout(180)
def test_server_killed_mid_remote(fault_cluster: Callable[..., FaultCluster]) -> None:
    """The caller's exchange breaks; the call is sent again once the server is back, and answered."""
    cluster = fault_cluster(None)
    cluster.start_server()
    cluster.start_worker()
    started = cluster.state_dir / "started"
    client = cluster.run_client(REMOTE_CLIENT, str(started))
    wait_until("the function running", started.exists)
    cluster.kill_server()
    cluster.start_server()
    assert client.wait(120) == 0, cluster.client_log()
    assert cluster.client_log().split()[-1] == "done"
