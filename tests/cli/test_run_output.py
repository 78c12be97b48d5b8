"""What `nano-modal run` shows a person: the usual mistakes in one line (never a traceback),
where the app runs and how its containers are isolated, and a container's prints before the
result the caller prints."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.helpers import REPO, wait_for
from tests.worker._drive import require

APP = """
import nano_modal as modal

app = modal.App("run-output")


@app.function()
def shout(x: int) -> str:
    print(f"printed before returning {x}")
    print(f"partial line {x}", end="")  # no newline: the worker reads it with the sync mark behind it
    return f"result {x}"


@app.local_entrypoint()
def main(n: int = 3) -> None:
    for x in range(n):
        print(f"caller got {shout.remote(x)}", flush=True)
    for value in shout.map(range(100, 100 + n)):  # a map's results too come after their prints
        print(f"caller got {value}", flush=True)
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No server, token or runtime from the surroundings: a fresh home under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANO_MODAL_")}
    env["NANO_MODAL_LOCAL_IDLE_EXIT"] = os.environ.get("NANO_MODAL_LOCAL_IDLE_EXIT", "10")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**env, "NANO_MODAL_HOME": str(tmp_path / "home"), **extra}


def _run(tmp_path: Path, ref: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(APP)
    argv = [sys.executable, "-m", "nano_modal.cli", "run", ref, *args]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize(
    ("ref", "extra", "expected"),
    [
        ("missing.py", {}, "Error: no such file: missing.py"),
        ("app.py::shuot", {}, "Error: 'shuot' is not an entrypoint or function of this app (known: main, shout)"),
        ("app.py", {"NANO_MODAL_SERVER_URL": "127.0.0.1:9", "NANO_MODAL_TOKEN": "t"}, "Error: cannot reach"),
        ("app.py", {"NANO_MODAL_SERVER_URL": "127.0.0.1:9"}, "Error: no token for the server at 127.0.0.1:9"),
    ],
    ids=["missing-file", "typo", "server-down", "no-token"],
)
def test_usual_mistakes_are_one_line(tmp_path: Path, ref: str, extra: dict[str, str], expected: str) -> None:
    out = _run(tmp_path, ref, _env(tmp_path, **extra))
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith(expected), out.stderr


def test_embedded_run_says_where_and_that_process_has_no_isolation(tmp_path: Path) -> None:
    out = _run(tmp_path, "app.py", _env(tmp_path, NANO_MODAL_RUNTIME="process"), "--n", "1")
    assert out.returncode == 0, out.stderr
    [line] = [x for x in out.stderr.splitlines() if x.startswith("runs on")]
    assert line.startswith("runs on the local server (127.0.0.1:")
    assert line.endswith("runtime process (NO ISOLATION: containers are plain processes of this machine)")


def test_run_on_a_server_says_which_and_its_workers_runtime(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    require("bwrap")
    cluster = isolated_cluster("bwrap")
    # Registered first: a run waits only 2 s for a remote server's worker, which a loaded machine's
    # bwrap probe can outlast (then the run says "no worker is connected yet", rightly).
    assert wait_for(lambda: "registered" in (cluster.state_dir / "server.log").read_text(), 120)
    env = _env(tmp_path, NANO_MODAL_SERVER_URL=cluster.server_url, NANO_MODAL_TOKEN=cluster.token)
    out = _run(tmp_path, "app.py", env, "--n", "1")
    assert out.returncode == 0, out.stderr
    assert f"runs on the server at {cluster.server_url}, runtime bwrap (Linux namespaces)\n" in out.stderr


def test_a_functions_prints_come_before_the_result_its_caller_prints(tmp_path: Path) -> None:
    out = _run(tmp_path, "app.py", _env(tmp_path, NANO_MODAL_RUNTIME="process"), "--n", "4")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()

    def at(text: str) -> int:
        [index] = [i for i, line in enumerate(lines) if line.endswith(text)]
        return index

    for x in [*range(4), *range(100, 104)]:
        assert at(f"printed before returning {x}") < at(f"partial line {x}") < at(f"caller got result {x}"), out.stdout
    assert "nano-modal-log-sync" not in out.stdout + out.stderr


DEPLOYED = """
import nano_modal as modal

app = modal.App("log-sync-follow")


@app.function()
def chatty(x: int) -> int:
    print(f"chatty says {x}")
    return x
"""


def test_app_logs_follow_shows_prints_and_never_sync_marks(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = isolated_cluster("process")
    env = _env(tmp_path, NANO_MODAL_SERVER_URL=cluster.server_url, NANO_MODAL_TOKEN=cluster.token)
    (tmp_path / "deployed.py").write_text(DEPLOYED)
    cli = [sys.executable, "-m", "nano_modal.cli"]
    subprocess.run([*cli, "deploy", "deployed.py"], cwd=tmp_path, env=env, check=True, timeout=240, capture_output=True)
    log_path = tmp_path / "follow.log"
    with log_path.open("w") as log:
        follower = subprocess.Popen([*cli, "app", "logs", "log-sync-follow", "--follow"], env=env, stdout=log)
    try:
        caller = "import nano_modal as m; f = m.Function.from_name('log-sync-follow', 'chatty'); "
        caller += "print(f.remote(1), f.remote(2))"
        done = subprocess.run([sys.executable, "-c", caller], env=env, capture_output=True, text=True, timeout=240)
        assert done.stdout.strip() == "1 2", done.stderr
        assert wait_for(lambda: "chatty says 2" in log_path.read_text(), timeout=60)
    finally:
        follower.terminate()
        follower.wait(30)
        subprocess.run([*cli, "app", "stop", "log-sync-follow"], env=env, timeout=120, capture_output=True)
    lines = log_path.read_text().splitlines()
    assert [x.split("] ", 1)[1] for x in lines] == ["chatty says 1", "chatty says 2"], lines
