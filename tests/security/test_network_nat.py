"""Kernel NAT (worker/kernel_nat.py) leaves nothing behind on the host: a container's link and
its chains go when it ends, the worker's table when the worker exits, and the host's other
network settings are as they were (ip_forward aside: the worker sets it, docs/SECURITY.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from nano_modal.worker import kernel_nat, runsc
from tests.helpers import run_script, wait_for
from tests.security.conftest import read_knobs, runtime_cluster
from tests.worker._drive import require

# The host's settings a NAT could be tempted to change (route_localnet would open the host's
# loopback to routed packets); ip_forward is not here: the worker sets it when it starts.
NETWORK_KNOBS = [
    "/proc/sys/net/ipv4/conf/all/route_localnet",
    "/proc/sys/net/ipv4/conf/default/route_localnet",
    "/proc/sys/net/ipv4/conf/all/rp_filter",
    "/proc/sys/net/ipv6/conf/all/forwarding",
]
SANDBOXES = 3
READY = 2  # links held ahead of need: a booted container's, and under gVisor a spare network's
RUN_SANDBOXES = f"""
import nano_modal
app = nano_modal.App("nat-leftovers")
with app.run():
    for _ in range({SANDBOXES}):
        sb = nano_modal.Sandbox.create("true", app=app, timeout=120)
        sb.wait()
print("DONE")
"""


def _tables() -> list[str]:
    out = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True, check=True).stdout
    return sorted(f"{t['table']['family']} {t['table']['name']}" for t in json.loads(out)["nftables"] if "table" in t)


def _container_chains(table: str) -> list[str]:
    """The per-container chains of `table` (kernel_nat.Slot.chains: c<n>, h<n>)."""
    out = subprocess.run(["nft", "-j", "list", "table", "inet", table], capture_output=True, text=True).stdout
    chains = [item["chain"]["name"] for item in json.loads(out or '{"nftables": []}')["nftables"] if "chain" in item]
    return [name for name in chains if re.fullmatch(r"[ch]\d+", name)]


def _links(prefix: str) -> list[str]:
    return sorted(name for name in os.listdir("/sys/class/net") if name.startswith(prefix))


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_kernel_nat_leaves_no_link_nor_rule_behind(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, runtime: str
) -> None:
    require(runtime)
    if kernel_nat.unavailable() is not None:
        pytest.skip(f"no kernel NAT on this host: {kernel_nat.unavailable()}")
    if runtime == "gvisor" and not runsc.sandbox_network(runsc.binary() or ""):
        pytest.skip("runsc older than 20240729: gVisor containers have no network")
    tables, knobs = _tables(), read_knobs(NETWORK_KNOBS)
    with runtime_cluster(tmp_path_factory, runtime, {}) as cluster:
        proc = run_script(tmp_path, RUN_SANDBOXES, env=cluster.env(), timeout=300)
        assert "DONE" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]
        said = re.search(r"table inet (nano_modal_(\d+))", (cluster.state_dir / "worker.log").read_text())
        assert said is not None, "the worker did not use kernel NAT"
        table, prefix = said[1], f"{kernel_nat.IF_PREFIX}{said[2]}-"

        def only_the_ready_ones() -> bool:
            """Each link left is the container booted ahead of need's or gVisor's spare network's
            (one link, two chains each); none of the ended sandboxes' remains."""
            links, chains = _links(prefix), _container_chains(table)
            return len(links) <= READY and len(chains) == 2 * len(links)

        assert wait_for(only_the_ready_ones, timeout=30), (_links(prefix), _container_chains(table))
    assert _tables() == tables  # the worker's table went with it
    assert _links(prefix) == []
    assert read_knobs(NETWORK_KNOBS) == knobs
