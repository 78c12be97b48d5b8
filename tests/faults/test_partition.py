"""Workers on separate (namespaced) hosts; one is cut off from the server mid-map, then comes back."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults import netns
from tests.faults.cluster import MAP_CLIENT, FaultCluster, finish_map, progress, wait_under_way, wait_until

N = 6_000


@pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))
@pytest.mark.slow(reason="a map across two hosts, one partitioned past the worker timeout (~25 s)")
@pytest.mark.timeout(240)
def test_partitioned_worker(fault_cluster: Callable[..., FaultCluster]) -> None:
    with netns.hosts(2) as (cut_host, other_host):
        cluster = fault_cluster(listen_host="0.0.0.0")  # reachable from every host's link
        cluster.start_server()
        cut, kept = cluster.start_worker_on(cut_host), cluster.start_worker_on(other_host)
        client = cluster.run_client(MAP_CLIENT, str(N), "unordered", str(cluster.state_dir / "results.json"))
        # The scheduler spreads containers by free cpu: both hosts get some.
        wait_under_way(cluster, client, 1000, {cut.pid, kept.pid})
        cut_host.partition(True)
        try:
            wait_until("the cut-off worker to be declared dead", lambda: cluster.declared_dead(0))
            assert progress(cluster)["count"] < N, "the map finished before the partition"
        finally:
            cut_host.partition(False)
        # Back on the network: its containers' late outputs are refused (their inputs were
        # reassigned), it re-registers and is told to stop them.
        finish_map(cluster, client, N, ordered=False)
        late = "its token is no longer valid"
        wait_until(
            "the cut-off host's late calls to be refused",
            lambda: any(late in line and "10.231.1.2" in line for line in cluster.server_log().splitlines()),
        )
        wait_until("the worker to rejoin", lambda: cluster.server_log().count("registered:") >= 3, timeout=60)
        assert cut.poll() is None and kept.poll() is None
