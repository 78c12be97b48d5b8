"""A container's /tmp is a tmpfs, which is memory: unbounded, one container writing there took
the host's RAM. It is capped now (NANO_MODAL_CONTAINER_TMP_MB, 1 GiB by default); here the
worker is given 32 MiB and a sandbox tries to write 200 MiB, under bwrap and gVisor. The
host's available memory is read before and after the write attempt."""

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
sb = nano_modal.Sandbox.create(
    "sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>/dev/null; echo dd=$?; du -sm /tmp/fill", app=app
)
sb.wait()
print("OUT", sb.stdout.read().replace("\\n", " | "))
"""


def _available_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def capped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with runtime_cluster(tmp_path_factory, request.param, {"NANO_MODAL_CONTAINER_TMP_MB": str(CAP_MB)}) as cluster:
        yield cluster


def test_a_container_cannot_fill_the_hosts_memory_through_tmp(capped: Cluster, tmp_path: Path) -> None:
    before = _available_mib()
    done = run_script(tmp_path, FILL, env=capped.env(), timeout=300)
    out = next((line for line in done.stdout.splitlines() if line.startswith("OUT ")), "")
    assert out, done.stdout + done.stderr
    assert "dd=1" in out, out  # the write failed (no space left), after what the cap allows
    written_mib = int(re.search(r"\| (\d+)\s+/tmp/fill", out).group(1))  # type: ignore[union-attr]
    assert written_mib <= CAP_MB, out
    assert _available_mib() > before - 150, (before, _available_mib())  # the 200 MiB never landed
