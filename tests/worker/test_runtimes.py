"""The isolating runtimes run ordinary functions correctly: values and large payloads come
back, the workdir, HOME and /tmp are writable, the server stays reachable without a network."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nano_modal.worker import seccomp
from nano_modal.worker.runtime import ContainerConfig, cgroup_manager, make_runtime
from tests.conftest import Cluster
from tests.helpers import wait_for
from tests.worker._drive import drive, require

MIB = 1024 * 1024


def expected_bytes(n: int) -> str:
    return hashlib.sha256(hashlib.sha256(str(n).encode()).digest() * (n // 32)).hexdigest()


@pytest.mark.parametrize("runtime", ["process", "bwrap", "gvisor"])
def test_probe_runs_a_trial_container(runtime: str) -> None:
    if runtime != "process":
        require(runtime)
    assert asyncio.run(make_runtime(runtime).probe()) is None


def test_seccomp_filter_is_well_formed() -> None:
    program = seccomp.build_filter("x86_64")
    assert len(program) % 8 == 0 and len(program) // 8 < 255  # BPF's jump offsets are 8-bit
    assert len(seccomp.build_filter("aarch64")) % 8 == 0
    assert {"ptrace", "mount", "unshare", "setns", "bpf", "keyctl"} <= set(seccomp.denied_numbers("x86_64"))


def test_cpu_limit_lets_cold_starts_burst() -> None:
    cfg = ContainerConfig("c", {}, Path("/"), cpu=0.25, memory_mb=64)
    limits = cfg.limits(pids=100)
    assert (limits.memory_mb, limits.cpu_shares, limits.pids) == (64, 0.25, 100)
    assert limits.cpu == 4.25  # Modal's soft limit: request + 4 cores
    explicit = ContainerConfig("c", {"NANO_MODAL_CPU_LIMIT": "0.5"}, Path("/"), cpu=0.25).limits(pids=0)
    assert explicit.cpu == 0.5


def test_cgroups_are_found_below_the_workers_own() -> None:
    manager = cgroup_manager()
    if manager is None:
        pytest.skip("no writable cgroup hierarchy on this machine")
    assert {"memory", "pids"} <= set(manager.parents)
    own = Path("/proc/self/cgroup").read_text()
    for controller, parent in manager.parents.items():
        assert parent.name.startswith("w") and parent.parent.name == "nano-modal", parent
        line = next(x for x in own.splitlines() if controller in x.split(":")[1].split(","))
        assert str(parent).endswith(line.split(":", 2)[2].rstrip("/") + f"/nano-modal/{parent.name}")


def test_the_containers_together_weigh_as_much_as_the_cores() -> None:
    """At the default weight all containers on the host shared one process's turn of the CPU."""
    manager = cgroup_manager()
    if manager is None or "cpu" not in manager.parents:
        pytest.skip("no writable cpu cgroup on this machine")
    parent, cores = manager.parents["cpu"], os.cpu_count() or 1
    file, value = ("cpu.shares", 1024 * cores) if manager.version == 1 else ("cpu.weight", min(10000, 100 * cores))
    for d in (parent.parent, parent):
        assert int((d / file).read_text()) == value, d


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def honest(
    request: pytest.FixtureRequest,
    isolated_cluster: Callable[..., Cluster],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    require(request.param)
    calls = [
        ("workspace", "workspace", []),
        ("big", "make_bytes", [3 * MIB]),
        ("big_blocked", "make_bytes_blocked", [3 * MIB]),
        ("volume_write", "volume_write", [f"hello from {request.param}"]),
        ("volume_read", "volume_read", []),
        ("fast_lane", "fast_lane_hello", []),
    ]
    directory = tmp_path_factory.mktemp(f"honest-{request.param}")
    return drive(isolated_cluster(request.param), directory, calls)


def test_function_has_a_writable_workdir_home_and_tmp(honest: dict[str, Any]) -> None:
    workspace = honest["workspace"]["ok"]
    assert all(workspace["written"].values()), workspace
    assert workspace["uid"] == 0  # root inside, as on Modal; no capabilities (test_attacks)


def test_large_payloads_come_back(honest: dict[str, Any]) -> None:
    # Over 2 MiB each way: they travel through the blob store (via the relay when blocked).
    for name in ("big", "big_blocked"):
        assert honest[name] == {"ok": {"sha256": expected_bytes(3 * MIB), "len": 3 * MIB}}, honest[name]


def test_the_fast_lane_is_relayed_to_containers(honest: dict[str, Any]) -> None:
    # Containers have no route to the server: without the relayed lane their calls took gRPC.
    assert honest["fast_lane"] == {"ok": "container"}, honest["fast_lane"]


def test_volumes_are_bound_at_their_mount_path(honest: dict[str, Any]) -> None:
    assert honest["volume_write"] == {"ok": ["hello.txt"]}, honest["volume_write"]
    assert honest["volume_read"]["ok"].startswith("hello from "), honest["volume_read"]


def test_worker_block_network_flag_blocks_every_container(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    require("bwrap")
    cluster = isolated_cluster("bwrap", "--block-network")
    port = int(cluster.server_url.rsplit(":", 1)[1])
    result = drive(cluster, tmp_path, [("net", "reach_host", [port])])
    assert result["net"]["ok"]["tcp"].startswith("denied"), result
    assert result["net"]["ok"]["interfaces"] == ["lo"]


def test_auto_runtime_picks_bwrap_where_it_works(isolated_cluster: Callable[..., Cluster], tmp_path: Path) -> None:
    require("bwrap")
    cluster = isolated_cluster("auto")
    assert drive(cluster, tmp_path, [("ping", "ping", [])]) == {"ping": {"ok": "pong"}}
    assert "runtime bwrap" in (cluster.state_dir / "worker.log").read_text()


# os.write, not print: a signal landing inside print's flush would make the handler's print fail.
TRAP_TERM = """
import os, signal, sys, time
def bye(*_):
    os.write(1, b"got SIGTERM\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
os.write(1, b"ready\\n")
time.sleep(60)
"""


@pytest.mark.parametrize("runtime", ["process", "bwrap", "gvisor"])
def test_stop_delivers_sigterm_to_the_container(runtime: str, tmp_path: Path) -> None:
    """@exit hooks run on SIGTERM: a runtime must deliver it to the entrypoint, not just kill."""
    if runtime != "process":
        require(runtime)

    async def scenario() -> str:
        rt = make_runtime(runtime)
        cfg = ContainerConfig("sigterm", {"PATH": "/usr/bin:/bin"}, tmp_path, command=[sys.executable, "-c", TRAP_TERM])
        proc = await rt.start(cfg)
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
        await rt.stop(proc, grace=10)
        rest = await proc.stdout.read()
        assert proc.stderr is not None
        err = await proc.stderr.read()
        await rt.finish(cfg, proc.returncode or 0)
        rt.disks.remove(cfg.workdir)  # its disk's mount (bwrap, gVisor under root) would outlive the test
        return f"{rest.decode()}\n(exit {proc.returncode}; stderr: {err.decode()[-1000:]})"

    output = asyncio.run(scenario())
    assert "got SIGTERM" in output, output


def test_a_bwrap_stop_finds_the_sandboxed_processes_from_the_kernels_children_lists() -> None:
    """The kernel's per-task children lists name the tree below bwrap, as the old walk over every
    process in /proc did (~50 ms on a busy host, on the worker's loop at every stop)."""
    from nano_modal.worker import bwrap

    tree = subprocess.Popen(["bash", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        assert wait_for(lambda: len(bwrap._sandboxed_by_children(tree.pid)) == 2, timeout=10, interval=0.05)
        found = bwrap._sandboxed_by_children(tree.pid)
        assert all(Path(f"/proc/{pid}/comm").read_text().strip() == "sleep" for pid in found)
        assert sorted(found) == sorted(bwrap._sandboxed(tree.pid))
    finally:
        subprocess.run(["pkill", "-P", str(tree.pid)], check=False)
        tree.kill()
        tree.wait()
