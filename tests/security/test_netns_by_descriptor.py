"""A container's network namespace is reached through a descriptor opened while it runs, never
through /proc/<pid> again (worker/network.py open_container_namespace): pids wrap within
minutes on a busy host (pid_max 32768), and a container gone by the time its routes were laid
down, its pid given to a host process, had the worker lay those prohibit routes in the host's
own table (found on the test machine: 10.0.0.0/8 prohibited on the host, its resolver with it).
The host's routing table is read before and after; it must not change."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from nano_modal.worker import network
from nano_modal.worker.kernel_nat import IF_PREFIX
from nano_modal.worker.network import DENIED_NETWORKS, NetworkPolicy, OutboundNat, parse_networks

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="entering network namespaces needs root")

# A policy whose only route would be harmless on the host if it landed there anyway (the
# benchmarking range): everything else the policy denies is allowed.
HARMLESS = "198.18.0.0/15"


def _host_routes() -> str:
    """The host's routes, all but those of containers' kernel-NAT links (`dev nmk<block>-<slot>`):
    they come and go with other clusters' containers of this test session (CI once saw one go
    between the two reads), and the code under test lays none of them (it runs without a NAT)."""
    listing = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True, check=True)
    return "".join(line for line in listing.stdout.splitlines(keepends=True) if f" dev {IF_PREFIX}" not in line)


def test_a_pid_now_a_host_process_leaves_the_hosts_routes_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "host_addresses", lambda: [])
    monkeypatch.setattr(network, "slirp_binary", lambda: None)  # (no NAT is started either way)
    policy = NetworkPolicy(parse_networks([n for n in DENIED_NETWORKS if n != HARMLESS]))
    assert policy.routes() == [f"route add prohibit {HARMLESS}"]
    before = _host_routes()
    host_process = subprocess.Popen(["sleep", "60"])  # stands for a host process given a container's old pid
    try:
        with pytest.raises((OSError, RuntimeError)):
            asyncio.run(OutboundNat(policy).start(host_process.pid))
        after = _host_routes()
    finally:
        host_process.kill()
        host_process.wait()
        if f"prohibit {HARMLESS}" in _host_routes() and f"prohibit {HARMLESS}" not in before:
            subprocess.run(["ip", "route", "del", "prohibit", HARMLESS], capture_output=True)  # (the old code's)
    assert after == before
