"""PostgreSQL away for a while under a running map: the server keeps answering meanwhile,
and the map completes, exactly once, when the database is back."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from nano_modal.proto import api_pb2
from tests import pg
from tests.faults.cluster import MAP_CLIENT, FaultCluster, finish_map, wait_under_way

N = 3_000
OUTAGE = 8.0  # seconds PostgreSQL stays stopped: well within the server's 30 s bound
ANSWER_WITHIN = 5.0  # seconds a Hello may take: it touches no store, so it must not wait for one


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL is not installed (scripts/test.sh installs it)")
@pytest.mark.slow(reason="PostgreSQL stopped for 8 s under a running map (~30 s)")
@pytest.mark.timeout(300)
def test_the_server_answers_while_postgres_is_away(fault_cluster: Callable[..., FaultCluster]) -> None:
    """Store writes used to run (and their retries sleep) on the server's one event loop: for
    as long as the database was away, no RPC was answered, not even Hello."""
    with pg.postgres_server() as url:
        cluster = fault_cluster(url)
        cluster.start_server()
        cluster.start_worker()
        client = cluster.run_client(MAP_CLIENT, str(N), "ordered", str(cluster.state_dir / "results.json"))
        wait_under_way(cluster, client, 500, set())
        pg.control(url, "stop")
        answered = 0
        try:
            until = time.monotonic() + OUTAGE
            while time.monotonic() < until:
                hello = cluster.rpc("Hello", api_pb2.HelloRequest(), timeout=ANSWER_WITHIN)
                assert hello.role == "admin"
                answered += 1
                time.sleep(0.5)
        finally:
            pg.control(url, "start")
        assert answered >= 2
        assert "state store unreachable" in cluster.server_log()  # the outage was seen, and ridden out
        finish_map(cluster, client, N, ordered=True)
        assert cluster.server is not None and cluster.server.poll() is None, cluster.server_log()
