"""Sandbox.create(outbound_cidr_allowlist=) on bwrap: the sandbox reaches the networks it names
and nothing else (routes in its own network namespace, worker/network.py). The peer is in a
network namespace this test makes, with addresses of its own (_peer.py's are other tests')."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.helpers import run_script, wait_for
from tests.security import _peer
from tests.worker._drive import require

# TEST-NET-3 (public as far as the policy is concerned), a /30 no other test uses.
HOST, PEER = "203.0.113.13", "203.0.113.14"

# Waits for the sandbox's outbound NAT (set up beside its start), then dials, a few times if asked.
DIAL = r"""
import socket, sys, time
host, port, tries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + 30
while "tap0" not in open("/proc/net/dev").read() and time.monotonic() < deadline:
    time.sleep(0.05)
for attempt in range(tries):
    try:
        socket.create_connection((host, port), timeout=5).close()
        print("connected")
        break
    except OSError as exc:
        outcome = f"failed: {exc}"
        time.sleep(0.25)
else:
    print(outcome)
"""

DRIVER = r"""
import json, sys
import nano_modal
python, dial, peer, port = sys.argv[1:]
app = nano_modal.App("sandbox-outbound")
out = {}
with app.run(show_logs=False):
    for name, allowlist, tries in (("named", [peer + "/32"], 40), ("other", ["198.51.100.0/24"], 1),
                                   ("empty", [], 1), ("none", None, 40)):
        sb = nano_modal.Sandbox.create(app=app, outbound_cidr_allowlist=allowlist)
        p = sb.exec(python, "-c", dial, peer, port, str(tries))
        out[name] = p.stdout.read().strip()
        sb.terminate()
print("RESULT " + json.dumps(out))
"""


@pytest.fixture
def peer() -> Iterator[_peer.Peer]:
    """A TCP listener at PEER that records every connection it accepts."""
    with _peer._veth_namespace(((HOST, PEER),)) as (name, _):
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", _peer.LISTEN, str(_peer.PORT)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
        found = _peer.Peer(name, proc)
        threading.Thread(target=found._read, daemon=True).start()
        try:
            yield found
        finally:
            proc.kill()
            proc.wait()


def test_outbound_allowlist_reaches_what_it_names_only(
    isolated_cluster: Callable[..., Cluster], peer: _peer.Peer, tmp_path: Path
) -> None:
    require("bwrap")
    cluster = isolated_cluster("bwrap")
    before = list(peer.reached(PEER))
    args = [sys.executable, DIAL, PEER, str(_peer.PORT)]
    proc = run_script(tmp_path, DRIVER, *args, env=cluster.env(), timeout=240)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["named"] == "connected" and out["none"] == "connected"  # its own network, and no allowlist
    for refused in (out["other"], out["empty"]):  # a prohibit route's refusal, not a NAT not up yet
        assert refused.startswith("failed") and "Permission denied" in refused, out
    wait_for(lambda: len(peer.reached(PEER)) >= len(before) + 2, timeout=10)  # (read by a thread)
    assert len(peer.reached(PEER)) == len(before) + 2  # the peer saw exactly the two allowed ones
