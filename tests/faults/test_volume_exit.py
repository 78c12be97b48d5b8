"""A container's volume commit on exit, which users rely on instead of calling commit():
every run's writes arrive, however the container is told to stop (issue 17, "Lost volume writes").

It was lost in 5 of 6 `nano-modal run`s: the server told the container to stop (its input
poll said shutdown) while the worker sent SIGTERM; the SIGTERM landed in the middle of the
commit, whose task was abandoned ("cannot schedule new futures after shutdown").
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.faults.cluster import FaultCluster

RUNS = 6
FILE_MB = 24  # big enough that its commit takes a while: a stop signal lands in the middle of it

APP = """
import hashlib, os, sys
from pathlib import Path
import nano_modal

app = nano_modal.App("exit-commit")
MOUNT = os.environ["NM_TEST_MOUNT"]
vol = nano_modal.Volume.from_name(os.environ["NM_TEST_VOLUME"], create_if_missing=True)


@app.function(volumes={MOUNT: vol}, serialized=True)
def write(name: str, megabytes: int) -> str:
    data = hashlib.sha256(name.encode()).digest() * (megabytes * 1024 * 1024 // 32)
    (Path(MOUNT) / name).write_bytes(data)  # no commit(): the container's exit commits it
    return hashlib.sha256(data).hexdigest()


@app.local_entrypoint()
def main(name: str = "x", megabytes: int = 1) -> None:
    print("sha", write.remote(name, megabytes))


if __name__ == "__main__":  # the same through `with app.run()`, RUNS times in one process
    for i in range(int(sys.argv[1])):
        with app.run():
            print("sha", write.remote(f"with-run-{i}", int(sys.argv[2])))
"""

LIST = """
import hashlib, json, os
import nano_modal

vol = nano_modal.Volume.from_name(os.environ["NM_TEST_VOLUME"])
print(json.dumps({e.path: hashlib.sha256(b"".join(vol.read_file(e.path))).hexdigest() for e in vol.listdir("/")}))
"""


def _expected(name: str) -> str:
    return hashlib.sha256(hashlib.sha256(name.encode()).digest() * (FILE_MB * 1024 * 1024 // 32)).hexdigest()


def _volume_files(cluster: FaultCluster, env: dict[str, str]) -> dict[str, str]:
    (cluster.state_dir / "list.py").write_text(LIST)
    done = subprocess.run(
        [sys.executable, str(cluster.state_dir / "list.py")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    files: dict[str, str] = json.loads(done.stdout)
    return files


@pytest.mark.slow(reason=f"{2 * RUNS} app runs, each writing {FILE_MB} MiB to a volume (~1 min per runtime)")
@pytest.mark.timeout(600)
@pytest.mark.parametrize("runtime", ["process", "bwrap", "gvisor"])
def test_every_run_commits_its_volume_on_exit(fault_cluster: Callable[..., FaultCluster], runtime: str) -> None:
    if shutil.which({"bwrap": "bwrap", "gvisor": "runsc"}.get(runtime, "sh")) is None:
        pytest.skip(f"the {runtime} runtime is not installed")
    cluster = fault_cluster()
    cluster.start_server()
    cluster.start_worker(runtime=runtime)
    app = cluster.state_dir / "exit_commit.py"
    app.write_text(APP)
    env = {
        **cluster.env(),
        "NM_TEST_MOUNT": str(cluster.state_dir / "mnt" / "data"),
        "NM_TEST_VOLUME": f"exit-commit-{runtime}",
    }
    cli = [sys.executable, "-m", "nano_modal.cli"]
    for i in range(RUNS):  # separate `nano-modal run`s against one server, as users do
        run = subprocess.run(
            [*cli, "run", str(app), "--name", f"cli-run-{i}", "--megabytes", str(FILE_MB)],
            env=env, cwd=cluster.state_dir, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"sha {_expected(f'cli-run-{i}')}" in run.stdout
        assert "NOT committed" not in run.stdout + run.stderr
        assert "Task was destroyed but it is pending" not in run.stdout + run.stderr  # an exit cut short
    in_process = subprocess.run(
        [sys.executable, str(app), str(RUNS), str(FILE_MB)],
        env=env, cwd=cluster.state_dir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert in_process.returncode == 0, in_process.stdout + in_process.stderr

    files = _volume_files(cluster, env)
    names = [f"cli-run-{i}" for i in range(RUNS)] + [f"with-run-{i}" for i in range(RUNS)]
    missing = [n for n in names if n not in files]
    assert not missing, f"{len(missing)} of {len(names)} runs lost their writes: {missing}"
    assert files == {n: _expected(n) for n in names}
    worker_log = (cluster.state_dir / "worker0.log").read_text(errors="replace")
    assert "commit on exit failed" not in worker_log
