"""A worker killed with SIGKILL in the middle of a map: no input is lost, none answered twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.faults.cluster import (
    MAP_CLIENT,
    FaultCluster,
    alive,
    children,
    finish_map,
    progress,
    wait_under_way,
    wait_until,
)
from tests.helpers import free_port

N = 10_000


@pytest.mark.slow(reason="a 10,000-input map on two workers, one of them killed (~30 s)")
@pytest.mark.timeout(240)
def test_worker_killed_mid_map(fault_cluster: Callable[..., FaultCluster]) -> None:
    cluster = fault_cluster()
    cluster.start_server()
    doomed, survivor = cluster.start_worker(), cluster.start_worker()
    # Unordered: a duplicate would show up as an extra result instead of overwriting its slot.
    client = cluster.run_client(MAP_CLIENT, str(N), "unordered", str(cluster.state_dir / "results.json"))
    wait_under_way(cluster, client, 1000, {doomed.pid, survivor.pid})
    doomed_containers = children(doomed.pid)
    assert doomed_containers, "the worker to kill runs no container"
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert progress(cluster)["count"] < N, "the map finished before the worker was killed"

    results = finish_map(cluster, client, N, ordered=False)["results"]
    # After the kill, inputs ran on the surviving worker; the dead one was declared dead and its
    # containers lost their credentials, so the orphans (the process runtime leaves them behind) exit.
    assert any(r[1] == survivor.pid for r in results[-100:])
    assert cluster.declared_dead(0)
    wait_until("the dead worker's orphaned containers to exit", lambda: not any(map(alive, doomed_containers)))
    assert survivor.poll() is None


@pytest.mark.timeout(120)
def test_a_worker_started_before_its_server_waits_for_it(fault_cluster: Callable[..., FaultCluster]) -> None:
    """Started first (as compose or systemd may), a worker keeps trying, then registers."""
    cluster = fault_cluster()
    cluster.port = free_port()
    log = cluster.state_dir / "early-worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "nano_modal.worker", "--server", cluster.url, "--runtime", "process"],
        env=cluster.env(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    cluster.workers.append(worker)
    wait_until("the worker to say it waits", lambda: "no server answers" in log.read_text())
    assert worker.poll() is None, log.read_text()
    cluster.start_server()
    wait_until("the worker to register", lambda: "registered as" in log.read_text())
