"""Attacks on the fast lane's port by a peer without a token: the server's memory stays
bounded (its RSS is read before and after) and silent connections are closed."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from nano_modal import _fast_lane
from nano_modal.proto import api_pb2, api_pb2_grpc
from tests.conftest import start_server, stop
from tests.helpers import wait_for

MIB = 1024 * 1024
FLOOD_CONNECTIONS = 12
FLOOD_FRAME = 60 * MIB  # under the 64 MiB frame bound: the old server read every byte of each
# Generous: a server reading even a few of the flood's frames grows by hundreds of MB.
RSS_GROWTH_BOUND = 100 * MIB
SHORT_TIMEOUT = 2.0  # the test server's auth and idle timeouts, in seconds


def rss_bytes(pid: int) -> int:
    """The process's resident set size, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture(scope="module")
def lane_server(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[tuple[int, int, str]]:
    """A server of its own (its RSS is not shared with other tests): (pid, fast-lane port, token)."""
    monkeypatch_module.setenv("NANO_MODAL_FAST_LANE_AUTH_TIMEOUT", str(SHORT_TIMEOUT))
    monkeypatch_module.setenv("NANO_MODAL_FAST_LANE_IDLE_TIMEOUT", str(SHORT_TIMEOUT))
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path_factory.mktemp("lane-server"), token)
    try:
        with grpc.insecure_channel(url) as channel:
            stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
            hello = stub.Hello(api_pb2.HelloRequest(), metadata=(("x-nano-modal-token", token),))
        yield server.pid, hello.fast_lane_port, token
    finally:
        stop(server)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _send_big_frame(port: int, kind: int, opened: list[socket.socket]) -> None:
    """One frame of FLOOD_FRAME bytes but its last, so that a server reading it holds it all."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    opened.append(sock)
    chunk = b"\0" * MIB
    with contextlib.suppress(OSError):  # the fixed server hangs up at the header
        sock.sendall(_fast_lane.HEADER.pack(FLOOD_FRAME, 1, kind))
        for _ in range(FLOOD_FRAME // MIB - 1):
            sock.sendall(chunk)


def test_unauthenticated_big_frames_do_not_grow_the_server(lane_server: tuple[int, int, str]) -> None:
    pid, port, _ = lane_server
    before = rss_bytes(pid)
    opened: list[socket.socket] = []
    kinds = [_fast_lane.AUTH, _fast_lane.CALL] * (FLOOD_CONNECTIONS // 2)
    senders = [threading.Thread(target=_send_big_frame, args=(port, kind, opened)) for kind in kinds]
    try:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(120)
        after = rss_bytes(pid)  # every flooding connection still open
    finally:
        for sock in opened:
            sock.close()
    assert after - before < RSS_GROWTH_BOUND, f"server RSS grew {(after - before) / MIB:.0f} MiB"


def test_a_connection_that_never_authenticates_is_closed(lane_server: tuple[int, int, str]) -> None:
    _, port, _ = lane_server
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        assert sock.recv(1) == b""  # the server hung up after its auth timeout


def test_an_idle_authenticated_connection_is_closed(lane_server: tuple[int, int, str]) -> None:
    _, port, token = lane_server
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(_fast_lane.frame(0, _fast_lane.AUTH, token.encode()))
        assert sock.recv(1) == b""


def test_a_bad_token_is_refused_before_the_call_is_read(lane_server: tuple[int, int, str]) -> None:
    _, port, _ = lane_server
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(_fast_lane.frame(0, _fast_lane.AUTH, b"not-a-token"))
        sock.sendall(_fast_lane.HEADER.pack(FLOOD_FRAME, 9, _fast_lane.CALL))  # no body follows
        length, call_id, kind = _fast_lane.HEADER.unpack(sock.recv(_fast_lane.HEADER.size))
        body = sock.recv(length)
        assert (call_id, kind) == (9, _fast_lane.ERROR)
        assert body[0] == grpc.StatusCode.UNAUTHENTICATED.value[0]
        assert sock.recv(1) == b""


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, TimeoutError):  # nothing to read yet: still open
        return False


def test_clients_reconnect_past_the_idle_timeout(
    lane_server: tuple[int, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port, token = lane_server
    monkeypatch.setattr(_fast_lane, "CLIENT_REUSE_LIMIT", SHORT_TIMEOUT / 2)  # as the env would set it
    lane = _fast_lane.BlockingFastLane(("127.0.0.1", port), token)
    assert lane.call("Hello", api_pb2.HelloRequest(), 30).role == "admin"
    first = lane._local.sock
    assert wait_for(lambda: _closed_by_peer(first), 60, 0.2)
    assert lane.call("Hello", api_pb2.HelloRequest(), 30).role == "admin"  # a fresh connection, no error


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_a_call_longer_than_the_idle_timeout_is_neither_cut_nor_spun_on(lane_server: tuple[int, int, str]) -> None:
    pid, port, token = lane_server
    lane = _fast_lane.BlockingFastLane(("127.0.0.1", port), token)
    queue = lane.call(
        "ObjectGetOrCreate",
        api_pb2.ObjectGetOrCreateRequest(kind=api_pb2.OBJECT_KIND_QUEUE, name="lane-long-poll", create_if_missing=True),
        30,
    )
    cpu_before = _cpu_seconds(pid)
    long_poll = api_pb2.QueueGetRequest(queue_id=queue.object_id, n_values=1, timeout=3 * SHORT_TIMEOUT)
    assert list(lane.call("QueueGet", long_poll, 60).values) == []  # answered, on the same connection
    # A server that polled its idle clock in a loop meanwhile would have burnt the whole wait.
    assert _cpu_seconds(pid) - cpu_before < SHORT_TIMEOUT  # of a 3 * SHORT_TIMEOUT wait
