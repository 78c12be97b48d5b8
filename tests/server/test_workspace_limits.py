"""Per-workspace limits on a real server and worker, set with the CLI as an operator would:
a capped workspace's map runs in one container at a time while the default workspace's
functions start as usual; a function larger than its workspace's limit fails at once naming
it; a sandbox past the limit waits, then fails naming it; `workspace list` shows the use."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cluster
from tests.helpers import run_script

APP = """
import os, sys, time
import nano_modal

app = nano_modal.App("capped")


@app.function()
def which(seconds: float) -> str:
    time.sleep(seconds)
    return os.environ["MODAL_TASK_ID"]


@app.function(cpu=2.0)
def big() -> str:
    return "ran"


if __name__ == "__main__":
    with app.run():
        print("containers:", len(set(which.map([0.5] * 6))))
        try:
            big.remote()
        except Exception as exc:
            print("big:", type(exc).__name__, exc)
        first = nano_modal.Sandbox.create("sleep", "60", app=app)
        try:
            nano_modal.Sandbox.create("sleep", "60", app=app)
        except Exception as exc:
            print("second sandbox:", type(exc).__name__, exc)
        first.terminate()
"""


def _cli(cluster: Cluster, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**cluster.env(), "COLUMNS": "200", **({"NANO_MODAL_TOKEN": token} if token else {})}
    return subprocess.run(
        [sys.executable, "-m", "nano_modal", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_capped_workspace_stays_within_its_limits(cluster: Cluster, tmp_path: Path) -> None:
    name = f"capped-{secrets.token_hex(3)}"
    made = _cli(cluster, "workspace", "create", name, "--max-containers", "1", "--max-cpu", "1")
    assert made.returncode == 0, made.stderr
    token = _cli(cluster, "token", "create", "--workspace", name).stdout.strip().splitlines()[-1]

    capped = run_script(tmp_path, APP, env={**cluster.env(), "NANO_MODAL_TOKEN": token}, timeout=300)
    out = capped.stdout
    assert "containers: 1" in out, out + capped.stderr
    assert (
        f"big: InvalidError big can never run: it asks for cpu=2 and workspace {name!r} is limited to cpu=1" in out
    ), out
    assert "second sandbox:" in out and f"workspace {name!r} has 1 of its 1 containers running" in out, (
        out + capped.stderr
    )

    # The default workspace has no limit: the same map starts more than one container there.
    free = run_script(tmp_path, APP.replace("[0.5] * 6", "[1.5] * 6"), env=cluster.env(), timeout=300)
    assert "containers: 1\n" not in free.stdout, free.stdout + free.stderr

    listed = _cli(cluster, "workspace", "list")
    assert name in listed.stdout and "1 container, cpu 1" in listed.stdout, listed.stdout
    changed = _cli(cluster, "workspace", "limits", name, "--max-containers", "3")
    assert changed.returncode == 0 and "3 containers" in changed.stdout, changed.stdout + changed.stderr
    wrong = _cli(cluster, "workspace", "limits", "no-such-workspace", "--max-cpu", "1")
    assert wrong.returncode != 0 and "not found" in wrong.stderr and "Traceback" not in wrong.stderr
    assert os.environ.get("NANO_MODAL_TOKEN") == cluster.token
