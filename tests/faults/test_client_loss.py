"""A client killed with SIGKILL mid-map: its ephemeral app stops, its containers go away."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from tests.faults.cluster import MAP_CLIENT, FaultCluster, children, wait_under_way, wait_until


@pytest.mark.slow(reason="waits out the app heartbeat timeout (8 s here, 30 s by default)")
@pytest.mark.timeout(180)
def test_client_killed_mid_map(fault_cluster: Callable[..., FaultCluster]) -> None:
    # Only this test waits for the app timeout: elsewhere a client slowed down by a loaded
    # machine must not lose its app over a late heartbeat (sent every 5 s).
    cluster = fault_cluster(overrides={"NANO_MODAL_APP_CLIENT_TIMEOUT": "8"})
    cluster.start_server()
    worker = cluster.start_worker()
    # 100,000 inputs of 4 ms on 4 containers: minutes of work, if nothing stopped it.
    client = cluster.run_client(MAP_CLIENT, "100000", "ordered", str(cluster.state_dir / "results.json"))
    wait_under_way(cluster, client, 500, set())
    assert children(worker.pid), "no container is running"
    os.kill(client.pid, signal.SIGKILL)
    client.wait()

    def app_state() -> str:
        (app,) = [a for a in cluster.apps() if a.name == "faults"]
        return str(app.state)

    assert app_state() == "running"
    wait_until("the abandoned app to stop", lambda: app_state() == "stopped", timeout=60)
    wait_until("its containers to exit", lambda: not children(worker.pid), timeout=60)
    (app,) = [a for a in cluster.apps() if a.name == "faults"]
    assert app.live_containers == 0
    assert "lost its client; stopping it" in cluster.server_log()
    assert worker.poll() is None
