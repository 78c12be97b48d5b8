"""Attacks on the gRPC port by a peer without a token: large messages are refused before they
are read (the server's peak RSS is read before and after)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import grpc
import pytest

from nano_modal.proto import api_pb2, api_pb2_grpc
from tests.conftest import Cluster, start_server, stop
from tests.security.test_server_web import RSS_GROWTH_BOUND, peak_rss_bytes

MIB = 1024 * 1024
FLOOD_CALLS = 12
FLOOD_MESSAGE = 60 * MIB  # under gRPC's 64 MiB message bound


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state_dir = tmp_path_factory.mktemp("grpc-server")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token)
    try:
        yield Cluster(url, token, state_dir, server, [])
    finally:
        stop(server)


def _big_call(url: str, codes: list[grpc.StatusCode]) -> None:
    options = [("grpc.max_send_message_length", 2 * FLOOD_MESSAGE)]
    with grpc.insecure_channel(url, options=options) as channel:
        stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
        request = api_pb2.DictUpdateRequest(
            dict_id="di-x", entries=[api_pb2.DictEntry(key=b"k", value=b"\0" * FLOOD_MESSAGE)]
        )
        try:
            stub.DictUpdate(request, metadata=(("x-nano-modal-token", "not-a-token"),), timeout=120)
        except grpc.RpcError as exc:
            codes.append(exc.code())


def test_unauthenticated_big_messages_do_not_grow_the_server(grpc_server: Cluster) -> None:
    before = peak_rss_bytes(grpc_server.server.pid)
    codes: list[grpc.StatusCode] = []
    callers = [threading.Thread(target=_big_call, args=(grpc_server.server_url, codes)) for _ in range(FLOOD_CALLS)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(180)
    grew = peak_rss_bytes(grpc_server.server.pid) - before
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * FLOOD_CALLS
    assert grew < RSS_GROWTH_BOUND, f"server peak RSS grew {grew / MIB:.0f} MiB"
