"""PostgreSQL away for 35 s in the middle of a map (issue 16, "Clients give up during a server
stall"): the server waits for its store (NANO_MODAL_STORE_RETRY_TIMEOUT, set above the outage),
and so do its clients: every result arrives, none twice. It did not: every running map raised
`ConnectionError: ... Deadline Exceeded` once the output poll's deadline (~20 s) passed, since
the client resent a call only when the server was unreachable, never when it was slow."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests import pg
from tests.faults.cluster import MAP_CLIENT, FaultCluster, finish_map, progress, wait_under_way

N = 3_000
OUTAGE = 35.0  # seconds: longer than the output poll's deadline, shorter than the server's retry window
STORE_RETRY = "60"  # the server's (and so the clients') window, above the outage
# Today's server answers nothing while it retries its store (issue 17, "a frozen loop"), so the
# client's heartbeats go unanswered too: without this, the server stops the app as abandoned
# once it is back. The client's side is what this test is about.
APP_CLIENT_TIMEOUT = "120"


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL is not installed (scripts/test.sh installs it)")
@pytest.mark.slow(reason="a 35 s PostgreSQL outage under a running map (~60 s)")
@pytest.mark.timeout(400)
def test_a_map_rides_out_a_store_outage(fault_cluster: Callable[..., FaultCluster]) -> None:
    with pg.postgres_server() as url:
        cluster = fault_cluster(
            url,
            overrides={
                "NANO_MODAL_STORE_RETRY_TIMEOUT": STORE_RETRY,
                "NANO_MODAL_APP_CLIENT_TIMEOUT": APP_CLIENT_TIMEOUT,
            },
        )
        cluster.start_server()
        cluster.start_worker()
        client = cluster.run_client(MAP_CLIENT, str(N), "ordered", str(cluster.state_dir / "results.json"))
        wait_under_way(cluster, client, 500, set())
        pg.control(url, "stop")
        time.sleep(OUTAGE)  # the fault itself: the database stays away this long
        assert client.poll() is None, cluster.client_log()
        assert progress(cluster)["count"] < N
        pg.control(url, "start")
        finish_map(cluster, client, N, ordered=True)
        assert cluster.server is not None and cluster.server.poll() is None, cluster.server_log()
        assert "nano-modal: waiting for the server" in cluster.client_log()
