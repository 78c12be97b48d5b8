"""The containers of a worker hold at most NANO_MODAL_CONTAINERS_MEMORY_MB together (default:
the host's memory less a tenth, at least 1 GiB): a function with no memory limit of its own
(the default, as on Modal) used to be able to take the host's memory from the server and the
worker. Here the worker is given 256 MiB and a function writes 700 MiB; the worker's cgroup
(its limit, and the most memory the host gave its containers) is read before and after."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster, start_server, start_worker, stop
from tests.helpers import run_script, wait_for
from tests.worker._drive import require

CAP_MB = 256
GREEDY = """
import nano_modal

app = nano_modal.App("greedy")


@app.function()
def take(mib: int) -> int:
    hoard = b"x" * (mib << 20)  # written, not merely reserved
    return len(hoard) >> 20


if __name__ == "__main__":
    with app.run():
        print("small", take.remote(16))
        try:
            print("big", take.remote(700))
        except Exception as exc:
            print("big failed:", type(exc).__name__, str(exc)[:300])
"""


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Cluster]:
    require("bwrap")
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path, token)
    worker = start_worker(
        url, token, tmp_path / "worker.log", "--runtime", "bwrap", env={"NANO_MODAL_CONTAINERS_MEMORY_MB": str(CAP_MB)}
    )
    try:
        yield Cluster(url, token, tmp_path, server, [worker])
    finally:
        stop(worker)
        stop(server)


def _worker_cgroup(pid: int) -> Path | None:
    """The cgroup directory this worker made for its containers (memory controller), once made."""
    for base in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")):
        for d in base.glob(f"**/nano-modal/w{pid}"):
            if (d / "memory.limit_in_bytes").exists() or (d / "memory.max").exists():
                return d
    return None


def _mib(d: Path, *names: str) -> int:
    name = next(n for n in names if (d / n).exists())
    return int((d / name).read_text()) >> 20


def test_a_workers_containers_cannot_take_the_hosts_memory(capped: Cluster, tmp_path: Path) -> None:
    assert wait_for(lambda: _worker_cgroup(capped.workers[0].pid) is not None, timeout=60)
    group = _worker_cgroup(capped.workers[0].pid)
    assert group is not None
    assert _mib(group, "memory.limit_in_bytes", "memory.max") == CAP_MB
    done = run_script(tmp_path, GREEDY, env=capped.env(), timeout=300)
    assert "small 16" in done.stdout, done.stdout + done.stderr
    assert "big failed:" in done.stdout and "big 700" not in done.stdout, done.stdout + done.stderr
    # What the host gave the worker's containers at their peak: never past the cap.
    assert _mib(group, "memory.max_usage_in_bytes", "memory.peak") <= CAP_MB
