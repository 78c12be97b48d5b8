"""One attack session per isolating runtime: a root worker (this test run's user) with that
runtime, a listener on the host's loopback, and every attack of _hostile.py run from a
function's container, a block_network function's and a sandbox."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.helpers import run_script
from tests.security import _hostile
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


@pytest.fixture(scope="session", params=["bwrap", "gvisor"])
def attacks(
    request: pytest.FixtureRequest, isolated_cluster: Callable[..., Cluster], tmp_path_factory: pytest.TempPathFactory
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
    ]
    directory = tmp_path_factory.mktemp(f"security-{runtime}")
    proc = run_script(directory, _hostile.DRIVER, sys.executable, json.dumps(calls), env=cluster.env(), timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = json.loads(lines[-1][len("RESULT ") :])
    written = {path for outcome in results["kernel_knobs"].values() if isinstance(outcome, dict) for path in outcome["written"]}
    watched = sorted(set(WATCHED_KNOBS) | {p for p in written if p.startswith("/proc/sys/")})
    after = read_knobs(watched)
    before.update({p: v for p, v in read_knobs(watched).items() if p not in before})  # (written back: same value)
    try:
        yield AttackSession(runtime, results, listener, before, after)
    finally:
        listener.sock.close()
