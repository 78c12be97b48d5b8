"""A container's /tmp is a tmpfs, which is memory: unbounded, one container writing there took
the host's RAM. It is capped now (NANO_MODAL_CONTAINER_TMP_MB, 1 GiB by default); here the
worker is given 32 MiB and a sandbox tries to write 200 MiB, under bwrap and gVisor. The
host's shared memory (Shmem in /proc/meminfo: tmpfs pages, and gVisor's memory file) is read
before the sandbox starts and after its write, while it still runs (its /tmp is freed when it
ends): Shmem, not MemAvailable, so that other processes on the machine do not move it much."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.helpers import run_script
from tests.security.conftest import runtime_cluster

CAP_MB = 32
FILL = """
import nano_modal

app = nano_modal.App.lookup("tmp-limit", create_if_missing=True)


def shmem_mib() -> int:
    for line in open("/proc/meminfo"):
        if line.startswith("Shmem:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no Shmem in /proc/meminfo")


before = shmem_mib()
script = "dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>/dev/null; echo dd=$?; du -sm /tmp/fill; sleep 60"
sb = nano_modal.Sandbox.create("sh", "-c", script, app=app)
out = iter(sb.stdout)
lines = [next(out).strip() for _ in range(2)]  # dd's status, then du's line
grown = shmem_mib() - before  # while the sandbox, and its /tmp, still exist
sb.terminate()
print("OUT", " | ".join(lines), f"| shmem+{grown}")
"""


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def capped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with runtime_cluster(tmp_path_factory, request.param, {"NANO_MODAL_CONTAINER_TMP_MB": str(CAP_MB)}) as cluster:
        yield cluster


def test_a_container_cannot_fill_the_hosts_memory_through_tmp(capped: Cluster, tmp_path: Path) -> None:
    done = run_script(tmp_path, FILL, env=capped.env(), timeout=300)
    out = next((line for line in done.stdout.splitlines() if line.startswith("OUT ")), "")
    assert out, done.stdout + done.stderr
    assert "dd=1" in out, out  # the write failed (no space left), after what the cap allows
    written_mib = int(re.search(r"\| (\d+)\s+/tmp/fill", out).group(1))  # type: ignore[union-attr]
    assert written_mib <= CAP_MB, out
    grown = int(re.search(r"shmem\+(-?\d+)", out).group(1))  # type: ignore[union-attr]
    assert grown < CAP_MB + 60, out  # the host's shared memory held the cap at most, not 200 MiB
