"""A container cannot fill the host's disk. Its workdir ($HOME, where a function without an
image writes) and its image's writable layer were directories on the worker's disk with no
limit; each is a disk of its own now (worker/disks.py), of NANO_MODAL_CONTAINER_DISK_MB or the
function's `ephemeral_disk=` (MiB). Here the worker's default is 64 MiB and functions try to
write 200 MiB, under bwrap and gVisor with a root worker. What the worker's directory holds on
the host's disk (blocks allocated, as `du` counts them, not looking inside mounts: a disk's
backing file counts once) is read after the writes, while the containers still run: the
host's free space would also move with whatever else runs on the machine."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.helpers import REPO, run_script
from tests.security.conftest import runtime_cluster

DEFAULT_MB = 64
ASKED_MB = 160
SLACK_MB = 60  # ext4's own blocks of each disk, the ready ones, the workdirs' other files

WRITE = """
import json, os
import nano_modal

app = nano_modal.App("disk-limit")


def fill(directory: str, mib: int) -> dict:
    os.makedirs(directory, exist_ok=True)
    written, error = 0, ""
    chunk = b"x" * 2**20
    try:
        with open(os.path.join(directory, "fill"), "wb") as f:
            for _ in range(mib):
                f.write(chunk)
                f.flush()
                written += 1
            os.fsync(f.fileno())
    except OSError as exc:
        error = exc.strerror or str(exc)
    return {"written": written, "error": error}


@app.function(scaledown_window=120)
def in_home(mib: int) -> dict:
    return fill(os.environ["HOME"], mib)


@app.function(scaledown_window=120, ephemeral_disk=ASKED_MB)
def in_home_with_more(mib: int) -> dict:
    return fill(os.environ["HOME"], mib)


@app.function(scaledown_window=120, image=nano_modal.Image.debian_slim())
def in_image_root(mib: int) -> dict:
    return fill("/var/fill", mib)


if __name__ == "__main__":
    with app.run():
        out = {
            "home": in_home.remote(200),
            "more_fits": in_home_with_more.remote(100),
            "more": in_home_with_more.remote(200),
            "image": in_image_root.remote(200),
        }
        print("OUT", json.dumps(out))
""".replace("ASKED_MB", str(ASKED_MB))


def _allocated_mib(worker_pid: int) -> int:
    """Blocks the worker's directory holds on the host's disk, mounts below it not entered."""
    root = next(Path(tempfile.gettempdir()).glob(f"nano-modal-workers-{os.getuid()}/{worker_pid}-*"))
    total = 0
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not os.path.ismount(os.path.join(directory, d))]
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
    return total // 2**20


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with runtime_cluster(tmp_path_factory, request.param, {"NANO_MODAL_CONTAINER_DISK_MB": str(DEFAULT_MB)}) as cluster:
        yield cluster


def test_a_container_cannot_fill_the_hosts_disk(limited: Cluster, tmp_path: Path) -> None:
    done = run_script(tmp_path, WRITE, env=limited.env(), timeout=600)
    line = next((line for line in done.stdout.splitlines() if line.startswith("OUT ")), "")
    assert line, done.stdout + done.stderr
    out = json.loads(line.removeprefix("OUT "))
    # The default disk: the write stops with "No space left on device" before 64 MiB.
    assert out["home"]["error"] == "No space left on device", out
    assert out["home"]["written"] <= DEFAULT_MB, out
    # ephemeral_disk= gives a function more: 100 MiB fit, 200 do not.
    assert out["more_fits"] == {"written": 100, "error": ""}, out
    assert out["more"]["error"] == "No space left on device" and out["more"]["written"] <= ASKED_MB, out
    # An image's writable layer is bounded too.
    assert out["image"]["error"] == "No space left on device" and out["image"]["written"] <= DEFAULT_MB, out
    # While those containers still run (scaledown_window=120), with their files: the worker's
    # directory holds at most what their disks let them write (and the disks formatted ahead).
    held = _allocated_mib(limited.workers[0].pid)
    assert held <= DEFAULT_MB + ASKED_MB + DEFAULT_MB + SLACK_MB, held


# A worker's containers together (worker/disks.py): each disk's size is reserved against
# NANO_MODAL_CONTAINERS_DISK_MB when it is mounted; before, N containers could each write their own
# disk's size, N times over the host's disk.
BUDGET_MB = 100  # two containers of the default 64 MiB do not fit together
HELD_MB = 40  # each fits its own disk; two would hold 80 MiB

TWO = """
import asyncio, json, os
import nano_modal
from nano_modal.client import Client
from nano_modal.proto import api_pb2

app = nano_modal.App("disk-budget")
FILL = "dd if=/dev/zero of=$HOME/fill bs=1M count=HELD_MB conv=fsync 2>&1 | tail -1; ls -s $HOME/fill"

if __name__ == "__main__":
    out = {}
    with app.run():
        first = nano_modal.Sandbox.create("sh", "-c", FILL + "; sleep 600", app=app, timeout=600)
        out["first"] = next(iter(first.stdout))  # dd's summary: its 60 MiB are written, it keeps them
        second = nano_modal.Sandbox.create("sh", "-c", FILL, app=app, timeout=600)
        second.wait()


        async def why() -> str:  # the reason its container ended, as `SandboxGet` tells it
            client = await Client.get()
            request = api_pb2.SandboxGetRequest(sandbox_id=second.object_id)
            return (await client.stub.SandboxGet(request, timeout=30)).reason


        out["second"] = {"code": second.returncode, "stdout": second.stdout.read(), "reason": asyncio.run(why())}
        print("HELD", json.dumps(out), flush=True)
        input()  # the test reads the host's disk while the first holds its files
        first.terminate()
""".replace("HELD_MB", str(HELD_MB))


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def budgeted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    settings = {
        "NANO_MODAL_CONTAINER_DISK_MB": str(DEFAULT_MB),
        "NANO_MODAL_CONTAINERS_DISK_MB": str(BUDGET_MB),
        "NANO_MODAL_PREBOOT": "0",  # a container booted ahead of need would hold a disk of the budget too
    }
    with runtime_cluster(tmp_path_factory, request.param, settings) as cluster:
        yield cluster


def test_a_workers_containers_together_stay_within_its_disk_budget(budgeted: Cluster, tmp_path: Path) -> None:
    (tmp_path / "two.py").write_text(TWO)
    env = {**budgeted.env(), "PYTHONPATH": str(REPO)}
    script = subprocess.Popen(
        [sys.executable, str(tmp_path / "two.py")],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert script.stdout is not None and script.stdin is not None
        line = ""
        for line in script.stdout:  # each sandbox stays within its own 64 MiB: the budget is what binds
            if line.startswith("HELD "):
                break
        assert line.startswith("HELD "), line + (script.stderr.read() if script.stderr else "")
        out = json.loads(line.removeprefix("HELD "))
        # While the first sandbox holds its 60 MiB, the host's disk holds at most the budget's worth.
        held = _allocated_mib(budgeted.workers[0].pid)
        script.stdin.write("\n")
        script.stdin.flush()
        script.wait(60)
    finally:
        if script.poll() is None:
            script.kill()
    assert f"{HELD_MB} MiB) copied" in out["first"], out
    # The host's disk held the first's 40 MiB and the disks' own blocks, not the second's 40 too.
    assert held < 2 * HELD_MB, held
    # The second's disk did not fit next to the first's: refused, naming the setting, nothing written.
    assert out["second"]["code"] != 0 and "copied" not in out["second"]["stdout"], out
    assert "NANO_MODAL_CONTAINERS_DISK_MB=100" in out["second"]["reason"], out
