"""A container killed (SIGKILL of its worker's whole process tree) in the middle of overwriting
a 16 MiB volume file: the next container's commit must not send the dead one's partial file
(issue 16). Every file of the volume is afterwards either its old content or content someone
committed. It did: under the `process` runtime every container of a host shared one copy of each
volume, and the next commit sent 14 of the 16 MiB as the file's new content."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
from collections.abc import Callable

import pytest

from nano_modal.worker.runtime import _can_unshare_mounts
from tests.faults.cluster import FaultCluster, alive, children, wait_until

SIZE = 16 * 1024 * 1024
OLD, NEW = b"o" * SIZE, b"n" * SIZE

APP = """
import hashlib, os, sys, time
import nano_modal

app = nano_modal.App("partial-write")
MOUNT = os.environ["NM_TEST_MOUNT"]
vol = nano_modal.Volume.from_name(os.environ["NM_TEST_VOLUME"], create_if_missing=True)
progress = nano_modal.Queue.from_name(os.environ["NM_TEST_VOLUME"] + "-progress", create_if_missing=True)
SIZE = 16 * 1024 * 1024


@app.function(volumes={MOUNT: vol}, serialized=True)
def overwrite() -> None:
    import time
    from pathlib import Path

    with open(Path(MOUNT) / "big.bin", "r+b") as f:  # in place, as a program updating a file does
        for i in range(16):
            f.write(b"n" * (1024 * 1024))
            f.flush()
            if i == 13:
                progress.put("14 MiB written")
                time.sleep(3600)  # killed here


@app.function(volumes={MOUNT: vol}, serialized=True)
def add_and_commit() -> None:
    from pathlib import Path

    (Path(MOUNT) / "other.txt").write_text("committed by another container")
    vol.commit()


if __name__ == "__main__":
    phase = sys.argv[1]
    with app.run():
        if phase == "write":
            with vol.batch_upload(force=True) as batch:
                batch.put_file(__import__("io").BytesIO(b"o" * SIZE), "big.bin")
            overwrite.spawn()
            print(progress.get(timeout=300), flush=True)
            time.sleep(3600)  # the app stays up until this client is killed with the worker
        else:
            add_and_commit.remote()
            digest = hashlib.sha256(b"".join(vol.read_file("big.bin"))).hexdigest()
            other = b"".join(vol.read_file("other.txt")).decode()
            print("big.bin", digest, "other.txt", other, flush=True)
"""


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        for child in children(frontier.pop()):
            found.append(child)
            frontier.append(child)
    return found


@pytest.mark.slow(reason="two app runs around a worker killed mid-write (~40 s per runtime)")
@pytest.mark.timeout(400)
@pytest.mark.parametrize("runtime", ["process", "bwrap", "gvisor"])
def test_a_partial_write_of_a_killed_container_is_never_committed(
    fault_cluster: Callable[..., FaultCluster], runtime: str
) -> None:
    if shutil.which({"bwrap": "bwrap", "gvisor": "runsc"}.get(runtime, "sh")) is None:
        pytest.skip(f"the {runtime} runtime is not installed")
    if runtime == "process" and not asyncio.run(_can_unshare_mounts()):
        pytest.skip("no mount namespaces here: the process runtime shares volume copies (docs/DEPLOY.md)")
    cluster = fault_cluster()
    cluster.overrides.update(
        NM_TEST_MOUNT=str(cluster.state_dir / "mnt" / "data"), NM_TEST_VOLUME=f"partial-{runtime}-{os.getpid()}"
    )
    cluster.start_server()
    doomed = cluster.start_worker(runtime=runtime)
    writer = cluster.run_client(APP, "write")

    def written() -> bool:
        assert writer.poll() is None, cluster.client_log(0)
        return "14 MiB written" in cluster.client_log(0)

    wait_until("the container to be 14 MiB into its overwrite", written, timeout=180)
    assert writer.poll() is None, cluster.client_log(0)
    tree = [doomed.pid, *_descendants(doomed.pid)]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):  # a short-lived helper may be gone already
            os.kill(pid, signal.SIGKILL)  # the whole worker tree at once: no container gets to commit
    doomed.wait()
    wait_until("the killed worker's processes to be gone", lambda: not any(map(alive, tree)))
    writer.kill()
    writer.wait()

    cluster.start_worker(runtime=runtime)
    checker = cluster.run_client(APP, "check")
    wait_until("the check to finish", lambda: checker.poll() is not None, timeout=240)
    out = cluster.client_log(1)
    assert checker.returncode == 0, out
    assert "other.txt committed by another container" in out, out
    digest = out.split("big.bin ", 1)[1].split()[0]
    old, new = hashlib.sha256(OLD).hexdigest(), hashlib.sha256(NEW).hexdigest()
    assert digest in (old, new), "big.bin holds neither its old content nor a committed new one (a partial write)"
    assert digest == old  # nobody committed the new content: the old stays
