"""The fast lane (unary calls framed over plain TCP) against a real server: same answers,
same errors, same credential checks as gRPC, and a clean fallback to gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from nano_modal import _fast_lane
from nano_modal._utils.aio import run_blocking
from nano_modal.client import Client
from nano_modal.proto import api_pb2, api_pb2_grpc
from tests.conftest import Cluster, start_server, stop
from tests.helpers import free_port


def _hello(url: str, token: str) -> api_pb2.HelloResponse:
    with grpc.insecure_channel(url) as channel:
        stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
        response: api_pb2.HelloResponse = stub.Hello(api_pb2.HelloRequest(), metadata=(("x-nano-modal-token", token),))
        return response


def _lane(cluster: Cluster, token: str | None = None) -> _fast_lane.BlockingFastLane:
    port = _hello(cluster.server_url, cluster.token).fast_lane_port
    assert port > 0
    return _fast_lane.BlockingFastLane(("127.0.0.1", port), token or cluster.token)


def test_the_sdk_uses_the_fast_lane(cluster: Cluster) -> None:
    client = run_blocking(Client.get())
    assert client.stub.fast is not None
    response = run_blocking(client.stub.Hello(api_pb2.HelloRequest()))
    assert response.role == "admin"


def test_answers_and_errors_match_grpc(cluster: Cluster) -> None:
    lane = _lane(cluster)
    assert lane.call("Hello", api_pb2.HelloRequest(), 10).role == "admin"
    missing = api_pb2.FunctionGetRequest(app_name="no-such-app", function_name="f")
    with pytest.raises(grpc.RpcError) as via_lane:
        lane.call("FunctionGet", missing, 10)
    with grpc.insecure_channel(cluster.server_url) as channel:
        stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as via_grpc:
            stub.FunctionGet(missing, metadata=(("x-nano-modal-token", cluster.token),))
    assert via_lane.value.code() == via_grpc.value.code() == grpc.StatusCode.NOT_FOUND
    assert via_lane.value.details() == via_grpc.value.details()  # type: ignore[attr-defined]


def test_credentials_are_checked_per_call(cluster: Cluster) -> None:
    for token in ("", "wrong-token"):
        with pytest.raises(grpc.RpcError) as denied:
            _lane(cluster, token=token or " ").call("AppCreate", api_pb2.AppCreateRequest(name="x"), 10)
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_streaming_and_unknown_methods_are_refused(cluster: Cluster) -> None:
    port = _hello(cluster.server_url, cluster.token).fast_lane_port
    assert "BlobPut" not in _fast_lane.UNARY_METHODS and "AppLogs" not in _fast_lane.UNARY_METHODS
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_fast_lane.frame(0, _fast_lane.AUTH, cluster.token.encode()))
        sock.sendall(_fast_lane.frame(7, _fast_lane.CALL, bytes([7]) + b"AppLogs"))
        length, call_id, kind = _fast_lane.HEADER.unpack(sock.recv(_fast_lane.HEADER.size))
        body = sock.recv(length)
    assert (call_id, kind) == (7, _fast_lane.ERROR)
    assert body[0] == grpc.StatusCode.UNIMPLEMENTED.value[0] and b"AppLogs" in body


def test_garbage_and_oversized_frames_do_not_hurt_the_server(cluster: Cluster) -> None:
    port = _hello(cluster.server_url, cluster.token).fast_lane_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack(">IIB", 2**31, 1, 1) + b"x" * 100)  # claims 2 GiB
        assert sock.recv(10) == b""  # the server hangs up
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x00\x00\x00\x05\x00\x00\x00\x01\x01\xff")  # truncated, bad method name
    assert _lane(cluster).call("Hello", api_pb2.HelloRequest(), 10).role == "admin"


def test_a_deadline_cancels_the_long_poll(cluster: Cluster) -> None:
    lane = _lane(cluster)
    created = lane.call(
        "ObjectGetOrCreate",
        api_pb2.ObjectGetOrCreateRequest(
            kind=api_pb2.OBJECT_KIND_QUEUE, name="fast-lane-empty", create_if_missing=True
        ),
        10,
    )
    wait = api_pb2.QueueGetRequest(queue_id=created.object_id, n_values=1, timeout=30)
    with pytest.raises(grpc.RpcError) as late:
        lane.call("QueueGet", wait, 0.5)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert lane.call("Hello", api_pb2.HelloRequest(), 10).role == "admin"  # reconnects


def test_fallback_to_grpc_when_the_lane_is_gone(cluster: Cluster) -> None:
    client = run_blocking(Client.get())
    dead_port = free_port()
    saved = client.stub.fast
    client.stub.fast = _fast_lane.FastLane(("127.0.0.1", dead_port), cluster.token)
    try:
        assert run_blocking(client.stub.Hello(api_pb2.HelloRequest())).role == "admin"
        assert client.stub.fast is None  # gRPC from now on
    finally:
        client.stub.fast = saved


def test_a_server_without_the_lane_serves_over_grpc(tmp_path: Path) -> None:
    server, url = start_server(tmp_path, "tok-no-lane", "--fast-port", "-1")
    try:
        assert _hello(url, "tok-no-lane").fast_lane_port == 0
        code = (
            "import nano_modal.client as c, nano_modal._utils.aio as a\n"
            "cl = a.run_blocking(c.Client.get()); print(cl.stub.fast, cl.role)"
        )
        env = {"NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": "tok-no-lane", "PATH": "/usr/bin:/bin"}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.stdout.split() == ["None", "admin"], out.stderr
    finally:
        stop(server)


def test_blocking_object_calls_skip_the_sdk_loop(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Single-key Dict calls and Queue put/get run on the caller's thread once the object is known."""
    import nano_modal
    from nano_modal._utils import aio
    from nano_modal.exception import NotFoundError

    d = nano_modal.Dict.from_name(f"fast-{secrets.token_hex(4)}", create_if_missing=True)
    q = nano_modal.Queue.from_name(f"fast-{secrets.token_hex(4)}", create_if_missing=True)
    d["warm"] = 0  # the first calls hydrate the objects, on the SDK's loop
    q.put("warm")

    def no_loop(coro: object) -> None:
        getattr(coro, "close", lambda: None)()
        raise AssertionError("went through the SDK's loop")

    monkeypatch.setattr(aio, "run_blocking", no_loop)
    d["k"] = {"v": 1}
    assert d["k"] == {"v": 1} and d.get("missing", 7) == 7 and "k" in d and d.put("k", 2, skip_if_exists=True) is False
    with pytest.raises(KeyError):
        d["missing"]
    q.put("item")
    assert q.get() == "warm" and q.get() == "item" and q.get(block=False) is None
    with pytest.raises(AssertionError, match="SDK's loop"):
        d.update({"a": 1})  # no fast path: the usual way
    monkeypatch.undo()

    nano_modal.Dict.objects.delete(d._name)  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        d["k"]  # the server's error, raised as usual from the fast path


def test_blocking_calls_fall_back_when_the_lane_is_down(cluster: Cluster) -> None:
    import nano_modal

    client = run_blocking(Client.get())
    d = nano_modal.Dict.from_name(f"fast-{secrets.token_hex(4)}", create_if_missing=True)
    d["k"] = 1
    dead_port = free_port()
    saved = client.stub._blocking
    client.stub._blocking = _fast_lane.BlockingFastLane(("127.0.0.1", dead_port), cluster.token)
    try:
        d["k"] = 2  # UNAVAILABLE on the fast path: the usual way, which works
        assert d["k"] == 2
    finally:
        client.stub._blocking = saved


def test_a_cancelled_call_is_cancelled_on_the_server(cluster: Cluster) -> None:
    """A task cancelled while its blocking QueueGet waits: the server must drop that get, or the
    next item put would go to a caller that is gone and be lost."""
    port = _hello(cluster.server_url, cluster.token).fast_lane_port

    async def scenario() -> list[bytes]:
        lane = _fast_lane.FastLane(("127.0.0.1", port), cluster.token)
        try:
            created = await lane.call(
                "ObjectGetOrCreate",
                api_pb2.ObjectGetOrCreateRequest(
                    kind=api_pb2.OBJECT_KIND_QUEUE, name="fast-lane-cancelled", create_if_missing=True
                ),
                10,
            )
            queue_id = created.object_id
            waiting = asyncio.ensure_future(
                lane.call("QueueGet", api_pb2.QueueGetRequest(queue_id=queue_id, n_values=1, timeout=30), 40)
            )
            await asyncio.sleep(0.5)  # parked on the server
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            await asyncio.sleep(0.2)  # the CANCEL frame arrives
            await lane.call("QueuePut", api_pb2.QueuePutRequest(queue_id=queue_id, values=[b"kept"]), 10)
            got = await lane.call("QueueGet", api_pb2.QueueGetRequest(queue_id=queue_id, n_values=1, timeout=5), 10)
            return list(got.values)
        finally:
            await lane.close()

    assert asyncio.run(scenario()) == [b"kept"]
