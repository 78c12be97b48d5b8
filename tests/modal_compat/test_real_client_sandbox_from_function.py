"""Sandboxes created from inside a Modal function's container (modal_compat/sandboxes.py,
base.py's platform_access): examples/modal_client_sandbox_from_function.py under `modal run`,
and a container of workspace B that cannot reach workspace A's sandbox."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app
from tests.modal_compat.test_real_client_workspaces import _cli, _pair, _run

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; `modal run` starts containers")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_sandbox_from_function.py"

# A's sandbox, made with A's pair: prints its id.
MAKE_A = """
import modal

app = modal.App.lookup("mcsb-owner", create_if_missing=True)
sb = modal.Sandbox.create("sleep", "600", app=app)
sb.set_tags({"owner": "a"})
print(sb.object_id)
"""

# A's sandbox as A's pair reads it: the state B's container must leave alone.
READ_A = """
import json, sys
import modal

sb = modal.Sandbox.from_id(sys.argv[1])
print(json.dumps({"running": sb.poll() is None, "tags": sb.get_tags()}))
"""

# B's function, given A's sandbox id: every way in, each line saying what happened.
PROBE_APP = """
import asyncio
import os

import modal
from modal.client import _Client
from modal.config import config
from modal_proto import api_pb2

app = modal.App("mcsb-prober")
ATTEMPT_TIMEOUT = 60  # a hung attempt is a failure to report, not a hung test


def outcome(exc):
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = type(exc).__name__ + str(exc)
    if "PermissionDenied" in text:
        return "refused"
    return "not found" if "NotFound" in text or "not found" in text else repr(exc)


@app.function()
async def probe(sandbox_id: str) -> list[str]:
    lines = []
    # A client of this loop (from_env's runs on the container's client loop): the container's
    # own credentials, which Modal's client sends with every call (MODAL_OVERRIDE_HEADERS).
    client = _Client(config["server_url"], api_pb2.CLIENT_TYPE_CONTAINER, None)
    await client._open()
    attempts = {
        "from_id": lambda: modal.Sandbox.from_id.aio(sandbox_id),
        "wait": lambda: client._stub.SandboxWait(api_pb2.SandboxWaitRequest(sandbox_id=sandbox_id, timeout=0)),
        "terminate": lambda: client._stub.SandboxTerminate(api_pb2.SandboxTerminateRequest(sandbox_id=sandbox_id)),
        "tags": lambda: client._stub.SandboxTagsSet(
            api_pb2.SandboxTagsSetRequest(sandbox_id=sandbox_id, tags=[api_pb2.SandboxTag(tag_name="o", tag_value="b")])
        ),
        "router by sandbox id": lambda: client._stub.SandboxGetCommandRouterAccess(
            api_pb2.SandboxGetCommandRouterAccessRequest(sandbox_id=sandbox_id)
        ),
        "router by task id": lambda: client._stub.SandboxGetCommandRouterAccess(
            api_pb2.SandboxGetCommandRouterAccessRequest(task_id=sandbox_id)
        ),
    }
    # Its own workspace's function container (its own): a container gets a router to sandboxes only.
    own = os.environ["MODAL_TASK_ID"]
    attempts["own container's router"] = lambda: client._stub.SandboxGetCommandRouterAccess(
        api_pb2.SandboxGetCommandRouterAccessRequest(task_id=own)
    )
    attempts["own container's router (exec)"] = lambda: client._stub.TaskGetCommandRouterAccess(
        api_pb2.TaskGetCommandRouterAccessRequest(task_id=own)
    )
    for what, attempt in attempts.items():
        try:
            await asyncio.wait_for(attempt(), ATTEMPT_TIMEOUT)
            lines.append(f"{what} -> allowed")
        except Exception as exc:
            lines.append(f"{what} -> {outcome(exc)}")
        print(lines[-1], flush=True)
    await client.close()
    listed = [sb.object_id async for sb in modal.Sandbox.list.aio()]
    lines.append(f"listed -> {'allowed' if sandbox_id in listed else 'not found'}")
    return lines


@app.local_entrypoint()
def main(sandbox_id: str):
    for line in probe.remote(sandbox_id):
        print(line)
"""


def test_sandbox_from_a_function_with_modal_run(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    for line in ("stdout: 42", "exit code: 0", "found by id: True", "listed: True", "returncode: 137"):
        assert line in run.stdout.splitlines(), out
    assert "restricted: refused: nano-modal: restricted runs with restrict_modal_access=True" in run.stdout, out


def test_a_container_of_workspace_b_cannot_reach_a_sandbox_of_a(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    _cli(modal_cluster, "workspace", "create", "mcsb-a")
    _cli(modal_cluster, "workspace", "create", "mcsb-b")
    env_a, env_b = _pair(modal_cluster, "mcsb-a"), _pair(modal_cluster, "mcsb-b")
    sandbox_id = _run(modal_cluster, env_a, "python", "-c", MAKE_A, cwd=tmp_path).split()[-1]
    before = _run(modal_cluster, env_a, "python", "-c", READ_A, sandbox_id, cwd=tmp_path)
    assert json.loads(before) == {"running": True, "tags": {"owner": "a"}}

    write_app(tmp_path, PROBE_APP)
    probed = subprocess.run(
        [str(modal_cluster.venv / "bin" / "modal"), "run", "app.py", "--sandbox-id", sandbox_id],
        cwd=tmp_path,
        env=env_b,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = probed.stdout + probed.stderr
    assert probed.returncode == 0, out
    outcomes = dict(line.split(" -> ") for line in probed.stdout.splitlines() if " -> " in line)
    assert outcomes.pop("own container's router") == "not found", out
    assert outcomes.pop("own container's router (exec)") == "refused", out  # `modal container exec` is a client's
    assert len(outcomes) == 7, out
    assert set(outcomes.values()) == {"not found"}, out

    # A's sandbox is as it was: still running, its tags untouched.
    assert _run(modal_cluster, env_a, "python", "-c", READ_A, sandbox_id, cwd=tmp_path) == before
