"""The containers of a worker hold at most NANO_MODAL_CONTAINERS_MEMORY_MB together (default:
the host's memory less a tenth, at least 1 GiB): a function with no memory limit of its own
(the default, as on Modal) used to be able to take the host's memory from the server and the
worker. Here the worker is given 256 MiB and a function writes 700 MiB; the worker's cgroup
(its limit, and the most memory the host gave its containers) is read before and after.

Each such container also has a hard limit of its own, NANO_MODAL_CONTAINER_MEMORY_MB (default:
that worker-wide cap), so that one cannot take all the others' share; a function's memory=
still sets its own. Here the worker's default is 128 MiB: the driver (root, on the host)
reads the containers' cgroups while they live."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster, start_server, start_worker, stop
from tests.helpers import run_script, wait_for
from tests.worker._drive import require

CAP_MB = 256
DEFAULT_MB = 128  # the worker's per-container default in the second test
LIMITED_MB = 512  # a function's own limit, above that default
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


# Runs on the host as root (argv: the worker's pid; LIMITED_MB filled in): the calls, then the memory limits of the
# containers still alive (warm), read from the worker's cgroup while they are.
DEFAULT_LIMITED = r"""
import glob, json, sys, nano_modal

app = nano_modal.App("container-memory")
WARM = 300  # seconds: the containers stay alive while their cgroups are read


def hoard(mib: int) -> int:
    held = b"x" * (mib << 20)  # written, not merely reserved
    return len(held) >> 20


@app.function(scaledown_window=WARM)
def unlimited(mib: int) -> int:
    return hoard(mib)


@app.function(scaledown_window=WARM, memory=LIMITED_MB)
def limited(mib: int) -> int:
    return hoard(mib)


@app.function(scaledown_window=WARM)
def idle() -> str:
    return "idle"


if __name__ == "__main__":
    worker_pid, out = sys.argv[1], {}
    with app.run(show_logs=False):
        try:
            out["unlimited"] = {"ok": unlimited.remote(400)}
        except Exception as exc:
            out["unlimited"] = {"error": type(exc).__name__, "message": str(exc)[:500]}
        out["limited"] = {"ok": limited.remote(400)}
        out["idle"] = idle.remote()
        limits = []
        for group in glob.glob("/sys/fs/cgroup/**/nano-modal/w" + worker_pid, recursive=True):
            for name in ("memory.limit_in_bytes", "memory.max"):
                limits += [int(open(f).read()) >> 20 for f in glob.glob(group + "/*/" + name)]
        out["container_limits_mb"] = sorted(limits)
    print("RESULT " + json.dumps(out))
""".replace("LIMITED_MB", str(LIMITED_MB))


def _worker(tmp_path: Path, runtime: str, env: dict[str, str]) -> Iterator[Cluster]:
    require(runtime)
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path, token)
    worker = start_worker(url, token, tmp_path / "worker.log", "--runtime", runtime, env=env)
    try:
        yield Cluster(url, token, tmp_path, server, [worker])
    finally:
        stop(worker)
        stop(server)


@pytest.fixture(params=["bwrap", "gvisor"])
def capped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    yield from _worker(tmp_path, request.param, {"NANO_MODAL_CONTAINERS_MEMORY_MB": str(CAP_MB)})


@pytest.fixture(params=["bwrap", "gvisor"])
def small_default(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    yield from _worker(tmp_path, request.param, {"NANO_MODAL_CONTAINER_MEMORY_MB": str(DEFAULT_MB)})


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


@pytest.mark.skipif(os.geteuid() != 0, reason="the driver reads the worker's cgroups (root)")
def test_a_container_without_a_limit_gets_the_workers_default(small_default: Cluster, tmp_path: Path) -> None:
    pid = str(small_default.workers[0].pid)
    done = run_script(tmp_path, DEFAULT_LIMITED, pid, env=small_default.env(), timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    # No memory=: the worker's default stops it, and the error says which limit and where from.
    assert out["unlimited"].get("error") == "ContainerDiedError", out
    reason = f"out of memory: limit {DEFAULT_MB} MiB, the worker's default NANO_MODAL_CONTAINER_MEMORY_MB"
    assert reason in out["unlimited"]["message"], out
    assert out["limited"] == {"ok": 400}, out  # its own limit wins over the worker's default
    # The containers alive at the end: `limited`'s, and those without memory= (`idle`'s, and
    # maybe another of `unlimited`'s, started for it or not yet removed): each has the default.
    assert sorted(set(out["container_limits_mb"])) == [DEFAULT_MB, LIMITED_MB], out
    assert out["container_limits_mb"].count(LIMITED_MB) == 1, out
