"""A function that acts as an attacker, run in each isolating runtime: every attempt must fail
inside the container. The attacks run in one session per runtime; each test checks one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nano_modal.worker import kernel_nat, network, runsc, uid_ranges
from tests.conftest import Cluster
from tests.worker._drive import drive, require

SECRETS = ["/etc/shadow", "/etc/gshadow", "/etc/ssl/private", "/root/.bash_history", "/home"]


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def attack(
    request: pytest.FixtureRequest,
    isolated_cluster: Callable[..., Cluster],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    require(request.param)
    cluster = isolated_cluster(request.param)
    state = str(cluster.state_dir)
    port = int(cluster.server_url.rsplit(":", 1)[1])
    calls = [
        ("secrets", "read_files", [SECRETS]),
        ("state_dir", "read_files", [[state, f"{state}/server.log", str(Path(state).parent)]]),
        ("processes", "visible_processes", []),
        ("writes", "write_outside", [["/evil", "/usr/evil", "/etc/evil", f"{state}/evil", "/proc/sys/kernel/evil"]]),
        ("escape", "escape_attempts", []),
        ("token", "find_admin_token", [hashlib.sha256(cluster.token.encode()).hexdigest(), [f"{state}/server.log"]]),
        ("net_open", "reach_host", [port]),
        ("net_blocked", "reach_host_blocked", [port]),
    ]
    results = drive(cluster, tmp_path_factory.mktemp(f"attack-{request.param}"), calls)
    results["_runtime"] = request.param
    results["_state"] = state
    return results


def ok(results: dict[str, Any], name: str) -> Any:
    entry = results[name]
    assert "ok" in entry, f"{name} raised instead of returning: {entry}"
    return entry["ok"]


def test_host_secrets_are_not_visible(attack: dict[str, Any]) -> None:
    for path, outcome in ok(attack, "secrets").items():
        assert outcome.startswith("denied"), f"{path}: {outcome}"


def test_server_state_dir_is_not_visible(attack: dict[str, Any]) -> None:
    for path, outcome in ok(attack, "state_dir").items():
        assert outcome.startswith("denied: FileNotFoundError"), f"{path}: {outcome}"


def test_only_the_containers_own_processes_are_visible(attack: dict[str, Any]) -> None:
    processes = ok(attack, "processes")
    assert 1 <= len(processes) <= 4, processes  # bwrap's init (bwrap only), the entrypoint and its kids
    assert any("nano_modal.container" in p for p in processes), processes
    for cmdline in processes:
        assert "nano_modal.worker" not in cmdline and "nano_modal.server" not in cmdline and "pytest" not in cmdline


def test_filesystem_outside_workdir_is_read_only(attack: dict[str, Any]) -> None:
    for path, outcome in ok(attack, "writes").items():
        assert outcome.startswith("denied"), f"{path}: {outcome}"
    assert not (Path(attack["_state"]) / "evil").exists()
    assert not Path("/evil").exists() and not Path("/usr/evil").exists()


def test_namespace_mount_and_ptrace_escapes_fail(attack: dict[str, Any]) -> None:
    escape = ok(attack, "escape")
    assert escape["unshare_cmd"] != 0
    for key in ("unshare", "mount", "umount", "ptrace_attach_1", "ptrace_traceme", "clone_newuser", "setns", "bpf"):
        assert escape[key] == "-" or escape[key].startswith("failed"), f"{key}: {escape[key]}"
    # Under a root worker, container root keeps root's everyday capabilities, in a user namespace
    # of its own whose uids are unprivileged on the host (uid_ranges.CAPABILITIES): CHOWN
    # DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT SETFCAP.
    # Under gVisor that needs a runsc that takes uid mappings; an older one's container has none.
    ranged = uid_ranges.available() and (
        attack["_runtime"] == "bwrap" or runsc.uid_mappings(runsc.binary() or "")
    )
    assert escape["capabilities"] == ["00000000800405fb" if ranged else "0000000000000000"]
    if attack["_runtime"] == "bwrap":  # gVisor's /proc/self/status has no NoNewPrivs line
        assert escape["no_new_privs"] == ["1"]


def test_only_the_scoped_token_is_inside(attack: dict[str, Any]) -> None:
    token = ok(attack, "token")
    assert token["token_in_env"], "the container needs its own token to reach the server"
    assert token["admin_token_found_in"] == []


def test_host_loopback_is_out_of_reach_with_or_without_network(attack: dict[str, Any]) -> None:
    # The server's own port on the host's loopback: every container has a network namespace of
    # its own and reaches the server through the worker's relay only (tests/security has more).
    opened = ok(attack, "net_open")
    assert opened["tcp"].startswith("denied"), opened
    # The NAT's interface (kernel NAT's eth0, else slirp's tap0); under gVisor also deny0, where
    # the denied networks' routes end (worker/network.py).
    nat = kernel_nat.INTERFACE if kernel_nat.unavailable() is None else network.INTERFACE
    expected = sorted(["lo", nat] if attack["_runtime"] == "bwrap" else ["deny0", "lo", nat])
    if attack["_runtime"] == "gvisor" and not runsc.sandbox_network(runsc.binary() or ""):
        expected = ["lo"]  # a runsc older than 20240729: --network=none (worker/runsc.py)
    assert sorted(opened["interfaces"]) == expected, opened
    blocked = ok(attack, "net_blocked")
    assert blocked["tcp"].startswith("denied"), blocked
    assert blocked["interfaces"] == ["lo"]
