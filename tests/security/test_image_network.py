"""A sandbox in an image (its own root filesystem, images/rootfs.py) gets the same network as
one on the host's Python: NAT to a public-looking peer, no private peer, no host loopback, and
its NAT's resolver in its /etc/resolv.conf (the host's under kernel NAT, slirp's otherwise)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from nano_modal.worker import kernel_nat, runsc
from nano_modal.worker.network import SLIRP_DNS
from tests.conftest import Cluster
from tests.helpers import run_script
from tests.security import _peer
from tests.security._peer import Peer
from tests.worker._drive import require

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mmdebstrap") is None, reason="building images needs root and mmdebstrap"
)

DRIVER = r"""
import json, sys, nano_modal
peers, port = json.loads(sys.argv[1]), int(sys.argv[2])
code = (
    "import json, socket, sys\n"
    "out = {}\n"
    "for a in json.loads(sys.argv[1]):\n"
    "    try:\n"
    "        socket.create_connection((a, int(sys.argv[2])), timeout=5).close(); out[a] = 'connected'\n"
    "    except OSError as exc:\n"
    "        out[a] = f'failed: {exc}'\n"
    "out['resolv.conf'] = open('/etc/resolv.conf').read().strip()\n"
    "print(json.dumps(out))\n"
)
app = nano_modal.App("security-image-network")
with app.run(show_logs=False):
    sb = nano_modal.Sandbox.create(app=app, image=nano_modal.Image.debian_slim(), timeout=300)
    p = sb.exec("python3", "-c", code, json.dumps(peers), str(port))
    stdout, stderr = p.stdout.read(), p.stderr.read()
    sb.terminate()
print("RESULT " + (stdout.strip() or json.dumps({"error": stderr[-2000:]})))
"""


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_a_sandbox_in_an_image_gets_the_same_network(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path, peer: Peer, runtime: str
) -> None:
    require(runtime)
    if runtime == "gvisor" and not runsc.sandbox_network(runsc.binary() or ""):
        pytest.skip("runsc older than 20240729: gVisor containers have no network (scripts/install_runsc.sh)")
    cluster = isolated_cluster(runtime)
    seen = len(peer.seen)
    peers = [_peer.PUBLIC_PEER, _peer.PRIVATE_PEER, "127.0.0.1"]
    proc = run_script(tmp_path, DRIVER, json.dumps(peers), str(_peer.PORT), env=cluster.env(), timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out[_peer.PUBLIC_PEER] == "connected", out
    assert out[_peer.PRIVATE_PEER].startswith("failed") and out["127.0.0.1"].startswith("failed"), out
    kernel = kernel_nat.unavailable() is None  # (the worker decides the same way on this host)
    servers = [str(r) for r in kernel_nat.reachable_resolvers()] if kernel else [SLIRP_DNS]
    assert out["resolv.conf"] == "\n".join(f"nameserver {server}" for server in servers)
    assert [s for s in peer.seen[seen:]] == [(_peer.PUBLIC_PEER, _peer.PUBLIC_HOST)]
