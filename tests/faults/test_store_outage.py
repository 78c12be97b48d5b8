"""PostgreSQL away under a running map. The server keeps answering meanwhile (issue 17, "a
frozen loop"), and the map completes, exactly once, when the database is back.

PostgreSQL away for 35 s in the middle of a map (issue 16, "Clients give up during a server
stall"): the server waits for its store (NANO_MODAL_STORE_RETRY_TIMEOUT, set above the outage),
and so do its clients: every result arrives, none twice. It did not: every running map raised
`ConnectionError: ... Deadline Exceeded` once the output poll's deadline (~20 s) passed, since
the client resent a call only when the server was unreachable, never when it was slow."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from nano_modal.client import _Stub
from nano_modal.exception import ConnectionError
from nano_modal.proto import api_pb2, api_pb2_grpc
from tests import pg
from tests.faults.cluster import MAP_CLIENT, FaultCluster, finish_map, progress, wait_under_way

N = 3_000
SHORT_OUTAGE = 8.0  # seconds PostgreSQL stays stopped in the server test: well within its 30 s bound
ANSWER_WITHIN = 5.0  # seconds a Hello may take: it touches no store, so it must not wait for one
OUTAGE = 35.0  # seconds: longer than the output poll's deadline, shorter than the server's retry window
STORE_RETRY = "60"  # the server's (and so the clients') window, above the outage


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL is not installed (scripts/test.sh installs it)")
@pytest.mark.slow(reason="a 35 s PostgreSQL outage under a running map (~60 s)")
@pytest.mark.timeout(400)
def test_a_map_rides_out_a_store_outage(fault_cluster: Callable[..., FaultCluster]) -> None:
    with pg.postgres_server() as url:
        cluster = fault_cluster(
            url,
            overrides={"NANO_MODAL_STORE_RETRY_TIMEOUT": STORE_RETRY},
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
        # The server answers what it can meanwhile, so whether the client had to wait (and said
        # so) depends on the calls in flight: test_a_timed_out_call_is_resent_only_if_idempotent
        # holds that part.


class _Stalling(api_pb2_grpc.NanoModalServicer):
    """A server that answers DictGet only at the third try, and DictUpdate never."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def DictGet(self, request: api_pb2.DictGetRequest, context: Any) -> api_pb2.DictGetResponse:
        self.calls["DictGet"] += 1
        if self.calls["DictGet"] < 3:
            await asyncio.sleep(3600)
        return api_pb2.DictGetResponse(found=True)

    async def DictUpdate(self, request: api_pb2.DictUpdateRequest, context: Any) -> api_pb2.DictUpdateResponse:
        self.calls["DictUpdate"] += 1
        await asyncio.sleep(3600)
        return api_pb2.DictUpdateResponse()


def test_a_timed_out_call_is_resent_only_if_idempotent() -> None:
    """Against a server that does not answer in time: a get is resent until it is answered; an
    update is not (it may have been done), and its error says so."""

    async def scenario() -> tuple[Counter[str], bool, str]:
        servicer = _Stalling()
        server = grpc.aio.server()
        api_pb2_grpc.add_NanoModalServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            stub = _Stub([f"127.0.0.1:{port}"], "token")
            got = await stub.DictGet(api_pb2.DictGetRequest(), timeout=0.5)
            with pytest.raises(ConnectionError) as failed:
                await stub.DictUpdate(api_pb2.DictUpdateRequest(), timeout=0.5)
            return servicer.calls, got.found, str(failed.value)
        finally:
            await server.stop(0)

    calls, found, error = asyncio.run(scenario())
    assert found and calls["DictGet"] == 3
    assert calls["DictUpdate"] == 1
    assert "did not answer DictUpdate in time: it may or may not have been done" in error


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
            until = time.monotonic() + SHORT_OUTAGE
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


def test_a_refusal_is_not_reported_as_a_server_not_answering() -> None:
    """An error the server answered with is not retried, and its message does not say that the
    server was still not answering (it said "(still not answering after 0s)" on a refused token)."""
    from nano_modal.client import _final_error

    refused = grpc.aio.AioRpcError(
        grpc.StatusCode.PERMISSION_DENIED, grpc.aio.Metadata(), grpc.aio.Metadata(), "not for containers", None
    )
    message = str(_final_error("AppLookup", refused, "127.0.0.1:1", reconnect=True, waited=0.01))
    assert "not for containers" in message and "still not answering" not in message
