"""An active server and a follower on one store. The client knows only the follower (which
forwards its calls); the worker lists both addresses. The active server is killed mid-map: the
follower takes over on the same address and the map completes exactly once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.faults import netns
from tests.faults.cluster import MAP_CLIENT, FaultCluster, finish_map, wait_under_way
from tests.faults.test_server_restart import N, store
from tests.helpers import free_port


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.slow(reason="two servers, a takeover and a 3,000-input map (~30 s)")
@pytest.mark.timeout(300)
def test_follower_takes_over_mid_map(fault_cluster: Callable[..., FaultCluster], kind: str) -> None:
    with store(kind) as url:
        cluster = fault_cluster(url)
        cluster.start_server()
        follower = f"127.0.0.1:{cluster.start_follower()}"
        both = f"{cluster.url},{follower}"
        cluster.overrides["NANO_MODAL_SERVER_URL"] = follower
        worker_log = (cluster.state_dir / "worker0.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "nano_modal.worker", "--server", both, "--runtime", "process"],
            env=cluster.env(),
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        cluster.workers.append(worker)
        client = cluster.run_client(MAP_CLIENT, str(N), "ordered", str(cluster.state_dir / "results.json"))
        wait_under_way(cluster, client, 500, set())

        cluster.kill_server()
        finish_map(cluster, client, N, ordered=True)
        assert "takes over" in cluster.follower_log()


@pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))
@pytest.mark.slow(reason="servers on two hosts, workers on both, a 3,000-input map (~20 s)")
@pytest.mark.timeout(240)
def test_servers_and_workers_on_separate_hosts(fault_cluster: Callable[..., FaultCluster]) -> None:
    """The active server in the root namespace, a follower and a worker on a namespaced host:
    the follower reaches the active server at the address it advertises, and the client and the
    root's worker know only the follower. The map runs on both workers, exactly once."""
    with netns.hosts(1) as (far,):
        cluster = fault_cluster(host="0.0.0.0")
        active_port = cluster.port = free_port()
        cluster.overrides["NANO_MODAL_ADVERTISE"] = f"{far.server_address}:{active_port}"
        cluster.start_server()
        follower_port = cluster.start_follower(*far.exec_prefix(), host="0.0.0.0", state_dir=cluster.state_dir / "far")
        far_address = f"{far.server_address.rsplit('.', 1)[0]}.2"  # the far host's own address
        cluster.host, cluster.port = far_address, follower_port
        near_worker = cluster.start_worker()  # in the root namespace, through the far follower
        cluster.host, cluster.port = far.server_address, active_port
        far_worker = cluster.start_worker(*far.exec_prefix())  # on the far host, straight to the active server
        cluster.overrides["NANO_MODAL_SERVER_URL"] = f"{far_address}:{follower_port}"
        client = cluster.run_client(MAP_CLIENT, str(N), "unordered", str(cluster.state_dir / "results.json"))
        wait_under_way(cluster, client, 500, {near_worker.pid, far_worker.pid})
        finish_map(cluster, client, N, ordered=False)
        assert f"forwarding calls to the active server at {far.server_address}:" in cluster.follower_log()
