"""What a killed worker leaves on disk (issue 16): its containers' work directories, each with
a copy of its volumes, and its agent and preboot directories. The next worker on the host
removes them at its start, and says so in its log; a live worker's are never touched, not
even by a worker started beside it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import FaultCluster, alive, children, wait_until

APP = """
import os, sys, time
from pathlib import Path
import nano_modal

app = nano_modal.App("leftovers")
MOUNT = os.environ["NM_TEST_MOUNT"]
vol = nano_modal.Volume.from_name("leftovers", create_if_missing=True)
ready = nano_modal.Queue.from_name("leftovers-ready-" + sys.argv[1], create_if_missing=True)


@app.function(volumes={MOUNT: vol}, serialized=True)
def hold(tag: str) -> None:
    import time
    from pathlib import Path

    (Path(MOUNT) / f"{tag}.bin").write_bytes(b"x" * 1024 * 1024)  # a copy of the volume, and more
    ready.put(tag)
    time.sleep(3600)


if __name__ == "__main__":
    with app.run():
        hold.spawn(sys.argv[1])
        print("holding", ready.get(timeout=300), flush=True)
        time.sleep(3600)
"""


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        for child in children(frontier.pop()):
            found.append(child)
            frontier.append(child)
    return found


def _work_dirs(tmp: Path) -> set[Path]:
    """Every directory the workers' code named nano-modal-* below `tmp` (at any depth it uses)."""
    return {p for p in tmp.rglob("nano-modal-*") if p.is_dir() and "nano-modal-workers-" not in p.name}


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """The workers' TMPDIR: its own, so that the assertions see only these workers' files; short,
    so that the Unix sockets inside stay under the 108-byte path limit."""
    path = Path(tempfile.mkdtemp(prefix="nmlo-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _hold(cluster: FaultCluster, tag: str) -> None:
    client = cluster.run_client(APP, tag)
    n = len(cluster.clients) - 1

    def holding() -> bool:
        assert client.poll() is None, cluster.client_log(n)
        return f"holding {tag}" in cluster.client_log(n)

    wait_until(f"a container of {tag} to run", holding, timeout=180)


@pytest.mark.slow(reason="three workers, one killed with its containers (~30 s per runtime)")
@pytest.mark.timeout(400)
@pytest.mark.parametrize("runtime", ["process", "bwrap"])
def test_a_new_worker_removes_what_a_killed_one_left_and_nothing_of_a_live_one(
    fault_cluster: Callable[..., FaultCluster], short_tmp: Path, runtime: str
) -> None:
    if shutil.which({"bwrap": "bwrap"}.get(runtime, "sh")) is None:
        pytest.skip(f"the {runtime} runtime is not installed")
    cluster = fault_cluster()
    cluster.overrides.update(TMPDIR=str(short_tmp), NM_TEST_MOUNT=str(short_tmp / "mnt" / "data"))
    cluster.start_server()
    doomed = cluster.start_worker(runtime=runtime)
    _hold(cluster, "doomed")
    left = _work_dirs(short_tmp)
    assert any(p.name.startswith("nano-modal-ta-") for p in left), left  # a container's work dir
    if runtime == "bwrap":  # it keeps a container booted ahead of need
        wait_until("a container booted ahead", lambda: any("preboot" in p.name for p in _work_dirs(short_tmp)))
        left = _work_dirs(short_tmp)
    tree = [doomed.pid, *_descendants(doomed.pid)]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):  # a short-lived helper may be gone already
            os.kill(pid, signal.SIGKILL)
    doomed.wait()
    wait_until("the killed worker's processes to be gone", lambda: not any(map(alive, tree)))
    assert all(p.exists() for p in left)  # nobody cleaned up after the kill

    cluster.start_worker(runtime=runtime)
    gone = {p for p in left if not p.exists()}
    assert gone == left, f"left behind: {sorted(map(str, left - gone))}"
    log = (cluster.state_dir / "worker1.log").read_text(errors="replace")
    assert "removed what 1 dead worker(s) left behind: " in log and "1 container work dir" in log, log
    if runtime == "bwrap":
        assert "1 preboot dir" in log, log

    # A live worker (worker1, with a running container) and a worker started beside it.
    _hold(cluster, "live")
    live_dirs = _work_dirs(short_tmp)
    assert any(p.name.startswith("nano-modal-ta-") for p in live_dirs), live_dirs
    cluster.start_worker(runtime=runtime)
    assert all(p.exists() for p in live_dirs), f"removed a live worker's: {[p for p in live_dirs if not p.exists()]}"
    assert "removed what" not in (cluster.state_dir / "worker2.log").read_text(errors="replace")
    assert cluster.clients[-1].poll() is None and cluster.workers[1].poll() is None


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(3600)
"""


def test_the_sweep_goes_by_the_lock_not_the_pid(tmp_path: Path) -> None:
    """A directory whose lock a live process holds stays, whatever its name says; one whose
    holder was killed goes, with everything in it; one being set up (no lock yet) stays."""
    import subprocess
    import sys

    from nano_modal.worker import scratch

    root = tmp_path / "workers"
    holders = []
    for name in ("1-live", f"{os.getpid()}-dead"):  # the dead one named after a live pid
        (root / name / "nano-modal-ta-x-1").mkdir(parents=True)
        (root / name / "nano-modal-ta-x-1" / "f").write_bytes(b"y" * 4096)
        proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root / name / "lock")], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
        holders.append(proc)
    (root / ".new-settingup").mkdir()
    try:
        holders[1].kill()
        holders[1].wait()
        removed = scratch.sweep(root)
        assert sorted(p.name for p in root.iterdir()) == [".new-settingup", "1-live"]
        assert (root / "1-live" / "nano-modal-ta-x-1" / "f").exists()
        assert (removed.workers, removed.kinds, removed.bytes) == (1, {"container work": 1}, 4096)
    finally:
        for proc in holders:
            proc.kill()
            proc.wait()
