"""Containers are in a network of their own. Under each isolating runtime, from a function's
container, a block_network function's and a sandbox: the host's loopback and the host's own
addresses are out of reach, and so are private, link-local (cloud metadata) and shared ranges;
outbound NAT reaches a public-looking peer, and `--allow-net CIDR` opens a private one. Every
peer is in a network namespace the test made (_peer.py); the routing table is asked
about other addresses without sending them anything."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nano_modal.worker import kernel_nat, runsc
from nano_modal.worker.network import DEAD_END, INTERFACE, SLIRP_GATEWAY
from tests.conftest import Cluster
from tests.helpers import REPO, wait_for
from tests.security import _hostile, _peer
from tests.security.conftest import ROUTE_QUERIES, AttackSession, run_attacks
from tests.worker._drive import require

KINDS = ("function", "blocked_function", "sandbox")
# The worker's outbound NAT on this host (it decides the same way): the kernel's, or slirp4netns.
KERNEL_NAT = kernel_nat.unavailable() is None
# How a container's route out reads: through its veth (the gateway differs per container) or slirp's gateway.
ROUTED_OUT = f"dev {kernel_nat.INTERFACE} " if KERNEL_NAT else f"via {SLIRP_GATEWAY} dev {INTERFACE} "


def _skip_without_network(runtime: str) -> None:
    if runtime == "gvisor" and not runsc.sandbox_network(runsc.binary() or ""):
        pytest.skip("runsc older than 20240729: gVisor containers have no network (scripts/install_runsc.sh)")


def _dial(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


def test_host_loopback_listener_sees_no_connection(attacks: AttackSession) -> None:
    outcomes = attacks.results["host_loopback"]
    assert set(outcomes) == set(KINDS)
    for kind, outcome in outcomes.items():
        assert str(outcome).startswith("failed"), f"{attacks.runtime} {kind} reached the host's loopback: {outcome}"
    assert attacks.listener.accepted == [], attacks.listener.accepted


def test_the_hosts_own_address_is_out_of_reach(attacks: AttackSession) -> None:
    for kind, outcome in attacks.results["host_address"].items():
        assert str(outcome).startswith("failed"), f"{attacks.runtime} {kind} reached the host's address: {outcome}"
    assert attacks.host_address_reached == []
    assert _dial(_peer.PUBLIC_HOST, _peer.PORT)  # while the host itself can: the listener is there


def test_private_ranges_are_out_of_reach(attacks: AttackSession) -> None:
    for kind, outcome in attacks.results["private_peer"].items():
        assert str(outcome).startswith("failed"), f"{attacks.runtime} {kind} reached a private peer: {outcome}"
    assert attacks.reached(_peer.PRIVATE_PEER) == []
    assert _dial(_peer.PRIVATE_PEER, _peer.PORT)  # the host reaches it: the refusal is the container's


def test_no_route_to_metadata_or_private_ranges(attacks: AttackSession) -> None:
    _skip_without_network(attacks.runtime)
    for kind, outcome in attacks.results["routes"].items():
        assert isinstance(outcome, dict), f"{kind}: {outcome}"
        for address in ROUTE_QUERIES:
            if address == "198.51.100.7" and kind != "blocked_function":
                assert ROUTED_OUT in outcome[address] + " ", f"{kind}: {outcome[address]}"  # public: the NAT
            elif attacks.runtime == "gvisor" and kind != "blocked_function":  # gVisor's netstack has no prohibit
                assert f"dev {DEAD_END} " in outcome[address] + " ", f"{kind} {address}: {outcome[address]}"
            else:
                assert outcome[address].startswith("refused"), f"{attacks.runtime} {kind} {address}: {outcome[address]}"


def test_outbound_nat_reaches_a_public_peer(attacks: AttackSession) -> None:
    outcomes = attacks.results["public_peer"]
    assert str(outcomes["blocked_function"]).startswith("failed"), outcomes
    _skip_without_network(attacks.runtime)
    assert outcomes["function"] == "connected" and outcomes["sandbox"] == "connected", outcomes
    # Through NAT: the peer saw the host's side of its veth, not the container's 10.0.2.100.
    assert len(attacks.reached(_peer.PUBLIC_PEER)) == 2, attacks.peer_reached
    assert {remote for _, remote in attacks.reached(_peer.PUBLIC_PEER)} == {_peer.PUBLIC_HOST}


def test_allow_net_opens_a_private_network(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path, attacks: AttackSession
) -> None:
    require(attacks.runtime)
    _skip_without_network(attacks.runtime)
    cluster = isolated_cluster(attacks.runtime, "--allow-net", _peer.PRIVATE_NET)
    before = len(attacks.peer.reached(_peer.PRIVATE_PEER))
    results = run_attacks(cluster, tmp_path, [("private_peer", _hostile.DIAL, [_peer.PRIVATE_PEER, str(_peer.PORT)])])
    outcomes = results["private_peer"]
    assert outcomes["function"] == "connected" and outcomes["sandbox"] == "connected", outcomes
    assert str(outcomes["blocked_function"]).startswith("failed"), outcomes
    assert len(attacks.peer.reached(_peer.PRIVATE_PEER)) == before + 2


# TEST-NET-1: a host address that appears only after the worker's containers were booted.
LATE_HOST, LATE_PEER = "192.0.2.1", "192.0.2.2"


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_a_host_address_gained_after_boot_is_out_of_reach(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path, runtime: str
) -> None:
    """A container booted ahead of need had its routes listed at boot: an address the host
    gained afterwards (here, the test's own veth) was reachable from the function it then ran.
    (Under slirp4netns, gVisor's routes cannot change once it runs: such a booted container is
    not used. Under kernel NAT the host's table refuses the address to it: it is used.)"""
    require(runtime)
    _skip_without_network(runtime)
    cluster = isolated_cluster(runtime, "--preboot", "1")
    log = cluster.state_dir / "worker.log"
    assert wait_for(lambda: "ahead of need" in log.read_text(errors="replace"), timeout=120), "nothing was booted"
    with _peer._veth_namespace(((LATE_HOST, LATE_PEER),)):
        listener = socket.socket()
        listener.bind((LATE_HOST, 0))
        listener.listen(16)
        listener.settimeout(0.5)
        try:
            results = run_attacks(
                cluster, tmp_path, [("late", _hostile.DIAL, [LATE_HOST, str(listener.getsockname()[1])])]
            )
            with pytest.raises(TimeoutError):  # nothing came in
                listener.accept()
        finally:
            listener.close()
    if runtime == "bwrap" or KERNEL_NAT:  # the function ran in a booted one, brought up to date
        assert ", booted ahead of need" in log.read_text(errors="replace")
    else:  # the booted one was set aside, saying why
        assert "since its network was made" in log.read_text(errors="replace")
    assert str(results["late"]["function"]).startswith("failed"), results["late"]


# An address the host gains while a container already runs a caller's code: TEST-NET-2, which
# the policy does not deny as a range (a public-looking address; TEST-NET-1 is denied whole).
RUNNING_HOST, RUNNING_PEER = "198.51.100.9", "198.51.100.10"
HOLD_A_SANDBOX = """
import sys
import nano_modal

# (first, up to argv[3] seconds for its routing table to deny the address: the worker
# denies it within milliseconds of hearing of it; an old worker never does, and the dial runs)
DIAL = '''
import socket, subprocess, sys, time
deadline = time.monotonic() + float(sys.argv[3])
def routed():
    return subprocess.run(["ip", "route", "get", sys.argv[1]], capture_output=True).returncode == 0
while time.monotonic() < deadline and routed():
    time.sleep(0.1)
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
    print("reached")
except OSError as exc:
    print("failed", exc)
'''
UP = '''
import subprocess, time
while subprocess.run(["ip", "route", "get", "198.51.100.7"], capture_output=True).returncode != 0:
    time.sleep(0.05)
'''
app = nano_modal.App("late-address")
with app.run():
    sb = nano_modal.Sandbox.create("sleep", "600", app=app, timeout=600)
    # Running, its network up (its routes laid down, the NAT's default route there) before the
    # host gains the address: the sandbox's own start must not list it.
    sb.exec(sys.executable, "-c", UP).wait()
    print("RUNNING", sb.object_id, flush=True)
    port = input()  # the host gains its address meanwhile; then the running sandbox dials it
    dial = sb.exec(sys.executable, "-c", DIAL, sys.argv[1], port, sys.argv[2])
    print("DIALED", dial.stdout.read().strip(), flush=True)
    sb.terminate()
"""


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_a_host_address_gained_while_a_container_runs(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path, runtime: str
) -> None:
    """A running container's routes were listed at its start: an address the host gained later
    was reachable from it. The worker now hears of the address (address_watch.py) and denies it
    to running bwrap containers. Under kernel NAT the host's own table refuses it to every
    container, gVisor's too (whose routes cannot change once it runs); under slirp4netns that is
    a known gap, and the worker says so in its log (docs/SECURITY.md)."""
    require(runtime)
    _skip_without_network(runtime)
    cluster = isolated_cluster(runtime)
    worker_log = cluster.state_dir / "worker.log"
    (tmp_path / "hold.py").write_text(HOLD_A_SANDBOX)
    script = subprocess.Popen(
        [sys.executable, str(tmp_path / "hold.py"), RUNNING_HOST, "30" if runtime == "bwrap" else "0"],
        env={**cluster.env(), "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert script.stdin is not None and script.stdout is not None
    try:
        line = script.stdout.readline()
        assert line.startswith("RUNNING "), line + (script.stderr.read() if script.stderr else "")
        with _peer._veth_namespace(((RUNNING_HOST, RUNNING_PEER),)):
            listener = socket.socket()
            listener.bind((RUNNING_HOST, 0))
            listener.listen(16)
            listener.settimeout(0.5)
            try:
                assert _dial(RUNNING_HOST, listener.getsockname()[1])  # the host itself reaches it
                listener.accept()[0].close()
                if runtime == "gvisor" and not KERNEL_NAT:  # a known gap (its routes are its copy): the worker says so
                    said = "running gVisor container(s) can reach it until they end"
                    assert wait_for(lambda: said in worker_log.read_text(errors="replace"), timeout=30), said
                script.stdin.write(f"{listener.getsockname()[1]}\n")
                script.stdin.flush()
                dialed = script.stdout.readline()
                if runtime == "bwrap" or KERNEL_NAT:
                    with pytest.raises(TimeoutError):  # nothing came in
                        listener.accept()
            finally:
                listener.close()
        script.wait(60)
    finally:
        if script.poll() is None:
            script.kill()
    if runtime == "bwrap" or KERNEL_NAT:
        assert dialed.startswith("DIALED failed"), dialed
