"""One attack session per isolating runtime: a root worker (this test run's user) with that
runtime, a listener on the host's loopback, and every attack of _hostile.py run from a
function's container, a block_network function's and a sandbox."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster, start_server, start_worker, stop
from tests.helpers import run_script
from tests.security import _hostile, _peer
from tests.security._peer import Peer, peer_namespace
from tests.worker._drive import require

# Knobs whose host values are read before and after every session, whatever the attack reports.
WATCHED_KNOBS = ["/proc/sys/fs/lease-break-time", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname"]


@dataclass
class LoopbackListener:
    """A TCP listener on the host's 127.0.0.1 that records every connection it accepts."""

    sock: socket.socket = field(default_factory=socket.socket)
    accepted: list[tuple[str, int]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.accepted.append(peer)
            conn.close()


@contextlib.contextmanager
def runtime_cluster(
    tmp_path_factory: pytest.TempPathFactory, runtime: str, worker_env: dict[str, str]
) -> Iterator[Cluster]:
    """A server and one worker of `runtime` (root, as deploy/systemd runs it) with these settings."""
    require(runtime)
    state_dir = tmp_path_factory.mktemp(f"server-{runtime}")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", runtime, env=worker_env)
    try:
        yield Cluster(url, token, state_dir, server, [worker])
    finally:
        stop(worker)
        stop(server)


def read_knobs(paths: list[str]) -> dict[str, str]:
    values = {}
    for path in paths:
        try:
            values[path] = Path(path).read_text()
        except OSError as exc:
            values[path] = f"unreadable: {exc}"
    return values


@dataclass
class AttackSession:
    runtime: str
    results: dict[str, dict[str, Any]]
    listener: LoopbackListener
    knobs_before: dict[str, str]
    knobs_after: dict[str, str]
    peer: Peer
    peer_reached: list[tuple[str, str]]  # (address dialed, from) at the peer, during this session's attacks
    host_address_reached: list[tuple[str, int]]  # at the host's own veth address, likewise

    def reached(self, address: str) -> list[tuple[str, str]]:
        return [s for s in self.peer_reached if s[0] == address]


# Addresses whose route the containers are asked about (never sent anything): cloud metadata,
# private ranges, and a public-looking documentation address.
ROUTE_QUERIES = ["169.254.169.254", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "198.51.100.7"]


def run_attacks(cluster: Cluster, directory: Path, calls: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    """_hostile.DRIVER against `cluster`: name -> {function, blocked_function, sandbox} -> output."""
    proc = run_script(directory, _hostile.DRIVER, sys.executable, json.dumps(calls), env=cluster.env(), timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return results


@pytest.fixture(scope="session")
def peer() -> Iterator[Peer]:
    with peer_namespace() as made:
        yield made


@pytest.fixture(scope="session", params=["bwrap", "gvisor"])
def attacks(
    request: pytest.FixtureRequest,
    isolated_cluster: Callable[..., Cluster],
    tmp_path_factory: pytest.TempPathFactory,
    peer: Peer,
) -> Iterator[AttackSession]:
    runtime: str = request.param
    require(runtime)
    listener = LoopbackListener()
    listener.start()
    cluster = isolated_cluster(runtime)
    before = read_knobs(WATCHED_KNOBS)
    calls = [
        ("kernel_knobs", _hostile.WRITE_BACK_KERNEL_KNOBS, []),
        ("host_loopback", _hostile.DIAL, ["127.0.0.1", str(listener.port)]),
        ("public_peer", _hostile.DIAL, [_peer.PUBLIC_PEER, str(_peer.PORT)]),
        ("private_peer", _hostile.DIAL, [_peer.PRIVATE_PEER, str(_peer.PORT)]),
        ("host_address", _hostile.DIAL, [_peer.PUBLIC_HOST, str(_peer.PORT)]),
        ("routes", _hostile.ROUTES, ROUTE_QUERIES),
        ("io_uring", _hostile.IO_URING, []),
    ]
    seen, host_seen = len(peer.seen), len(peer.host_seen)  # the peer is the session's: count from here
    results = run_attacks(cluster, tmp_path_factory.mktemp(f"security-{runtime}"), calls)
    reached, reached_host = peer.seen[seen:], peer.host_seen[host_seen:]
    outcomes = [o for o in results["kernel_knobs"].values() if isinstance(o, dict)]
    written = {path for outcome in outcomes for path in outcome["written"]}
    watched = sorted(set(WATCHED_KNOBS) | {p for p in written if p.startswith("/proc/sys/")})
    after = read_knobs(watched)
    before.update({p: v for p, v in read_knobs(watched).items() if p not in before})  # (written back: same value)
    try:
        yield AttackSession(runtime, results, listener, before, after, peer, reached, reached_host)
    finally:
        listener.sock.close()
