"""Sandboxes with the real client from PyPI (modal_compat/sandboxes.py, command_router.py):
examples/modal_client_sandbox.py run with `modal run`, a sandbox found by id from another
process, and `modal container exec` into a function's container."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; `modal run` starts an app")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_sandbox.py"

# A sandbox left running by one process, then found by id and driven from another.
START = """
import modal

app = modal.App.lookup("nano-compat-sandbox-owner", create_if_missing=True)
sb = modal.Sandbox.create("sleep", "600", app=app)
print(sb.object_id)
"""

FROM_ID = """
import sys

import modal

sb = modal.Sandbox.from_id(sys.argv[1])
p = sb.exec("echo", "from another process")
print("other process:", p.stdout.read().strip(), p.wait())
try:
    sb.filesystem.list_files("/tmp")
except Exception as exc:
    print("list_files:", type(exc).__name__, exc)
sb.terminate()
sb.wait(raise_on_termination=False)
print("returncode:", sb.returncode)
"""

# A function whose container stays warm. With a volume, Modal's entrypoint runs as the child of
# nano-modal's volume process (container/modal_volumes.py), which gets the worker's SIGUSR2.
WARM_APP = """
import modal

app = modal.App("nano-compat-exec-{kind}")
volume = modal.Volume.from_name("compat-exec-volume", create_if_missing=True)


@app.function(scaledown_window=600, volumes={{"/data": volume}} if "{kind}" == "volume" else {{}})
def ping():
    return "pong"
"""

PING = """
import sys

import modal

print("ping:", modal.Function.from_name(f"nano-compat-exec-{sys.argv[1]}", "ping").remote())
"""


# The router's JWT for sandbox A, used on sandbox B (and a JWT signed with another key): refused.
CROSS = """
import asyncio
import os
import sys

import modal
from modal.client import _Client
from modal.sandbox._task_command_router_client import TaskCommandRouterClient
from modal_proto import api_pb2, task_command_router_pb2 as sr

app = modal.App.lookup("nano-compat-sandbox-cross", create_if_missing=True)
a = modal.Sandbox.create("sleep", "600", app=app)
b = modal.Sandbox.create("sleep", "600", app=app)


async def attempt(jwt_of_a: bool) -> None:
    # A client of this event loop (from_env's is the sync API's, on another loop).
    credentials = (os.environ["MODAL_TOKEN_ID"], os.environ["MODAL_TOKEN_SECRET"])
    client = _Client(os.environ["MODAL_SERVER_URL"], api_pb2.CLIENT_TYPE_CLIENT, credentials)
    await client._open()
    access = await client._stub.SandboxGetCommandRouterAccess(
        api_pb2.SandboxGetCommandRouterAccessRequest(sandbox_id=a.object_id)
    )
    jwt = access.jwt if jwt_of_a else access.jwt.rsplit(".", 1)[0] + ".forged"
    access = api_pb2.CommandRouterAccess(url=access.url, jwt=jwt)

    async def fetch():
        return access

    router = await TaskCommandRouterClient.connect(client, b.object_id, fetch, access=access)
    start = sr.TaskExecStartRequest(task_id=b.object_id, exec_id="x", command_args=["touch", sys.argv[1]])
    try:
        await router.exec_start(start)
        print("ran in b")
    except Exception as exc:
        print("refused:", type(exc).__name__, exc)
    await client.close()


asyncio.run(attempt(True))
asyncio.run(attempt(False))
print("b still runs:", b.poll() is None)
a.terminate()
b.terminate()
"""


def _python(cluster: ModalCluster, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    python = str(cluster.venv / "bin" / "python")
    return subprocess.run(
        [python, *args], cwd=tmp_path, env=cluster.modal_env(), capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("v2", ["1", "0"])  # modal 1.6 makes V2 sandboxes unless MODAL_SANDBOX_V2=0
def test_sandbox_example_runs_with_modal_run(modal_cluster: ModalCluster, tmp_path: Path, v2: str) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    modal = str(modal_cluster.venv / "bin" / "modal")
    env = {**modal_cluster.modal_env(), "MODAL_SANDBOX_V2": v2}
    run = subprocess.run([modal, "run", "app.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    for line in (
        "stdout: hello from a sandbox in /tmp",
        "returncode: 0",
        "echoed: ROUND TRIP",
        "poll while running: None",
        "exec stdout: hi from the sandbox",
        "exec stderr: oops",
        "exec exit code: 3",
        "exec env and secrets: exec 2",
        "exec stdin: hello",
        "file: written from outside",
        "seen by a command: written from outside",
        "removed: True",
        "listed by tag: True",
        "from_id sees it running: True",
        "terminated returncode: 137",
        "failing returncode: 7",
    ):
        # Each line ends as printed; the app's log (the sandboxes' own output, shown by `modal run`)
        # may be written just before it on the same line.
        assert any(printed.endswith(line) for printed in run.stdout.splitlines()), out


def test_sandbox_from_id_in_another_process(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    (tmp_path / "start.py").write_text(START)
    (tmp_path / "from_id.py").write_text(FROM_ID)
    start = _python(modal_cluster, tmp_path, "start.py")
    assert start.returncode == 0, start.stdout + start.stderr
    sandbox_id = start.stdout.strip().splitlines()[-1]
    other = _python(modal_cluster, tmp_path, "from_id.py", sandbox_id)
    assert other.returncode == 0, other.stdout + other.stderr
    assert "other process: from another process 0" in other.stdout, other.stdout + other.stderr
    assert "returncode: 137" in other.stdout, other.stdout + other.stderr
    refused = "nano-modal does not serve the sandbox filesystem's ListFiles yet"
    assert refused in other.stdout, other.stdout + other.stderr


@pytest.mark.parametrize("kind", ["plain", "volume"])
def test_modal_container_exec_into_a_function_container(modal_cluster: ModalCluster, tmp_path: Path, kind: str) -> None:
    write_app(tmp_path, WARM_APP.format(kind=kind))
    deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    (tmp_path / "ping.py").write_text(PING)
    ping = _python(modal_cluster, tmp_path, "ping.py", kind)
    assert "ping: pong" in ping.stdout, ping.stdout + ping.stderr
    listed = modal_cluster.modal("container", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    ids = [c["container_id"] for c in json.loads(listed.stdout) if c["app_name"] == f"nano-compat-exec-{kind}"]
    assert len(ids) == 1, listed.stdout
    done = modal_cluster.modal(
        "container", "exec", "--no-pty", ids[0], "--", "sh", "-c", "echo inside $0; exit 0", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "inside sh" in done.stdout, done.stdout + done.stderr
    again = _python(modal_cluster, tmp_path, "ping.py", kind)  # the container lived through it
    assert "ping: pong" in again.stdout, again.stdout + again.stderr
    listed_again = json.loads(modal_cluster.modal("container", "list", "--json", cwd=tmp_path).stdout)
    assert ids[0] in [c["container_id"] for c in listed_again], listed_again


def test_a_router_jwt_drives_only_its_own_sandbox(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    marker = tmp_path / "b-ran-this"  # the process runtime: a sandbox's absolute paths are the host's
    (tmp_path / "cross.py").write_text(CROSS)
    assert not marker.exists()
    cross = _python(modal_cluster, tmp_path, "cross.py", str(marker))
    out = cross.stdout + cross.stderr
    assert cross.returncode == 0, out
    assert "refused: PermissionDeniedError nano-modal: this JWT is for sb-" in cross.stdout, out
    assert "refused: AuthError nano-modal: the command router's JWT is not valid" in cross.stdout, out
    assert "ran in b" not in cross.stdout, out
    assert "b still runs: True" in cross.stdout, out
    assert not marker.exists()
