"""The previous client minor (modal 1.5.x) runs and deploys on nano-modal too (issue 15: the newest
minor and the one before are served).

Only the user's side is 1.5: the server and the worker keep the newest client (1.6, the
`modal_cluster` fixture), as an operator's install does, and the users' programs come with
whichever `modal` they have.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path

import grpc
import pytest

from tests.conftest import REPO
from tests.modal_compat.conftest import ModalCluster, make_scratch_venv
from tests.modal_compat.test_real_client import CALLER, DEPLOYED_APP, SPAWN_APP, write_app

pytestmark = pytest.mark.slow(reason="installs modal 1.5 from PyPI once; each `modal run` starts containers")

PREVIOUS_MODAL_VERSION = "1.5.5"  # the newest of the minor before the newest (PyPI)
PREVIOUS_VENV = Path(tempfile.gettempdir()) / f"nano-modal-test-modal-{PREVIOUS_MODAL_VERSION}"
EXAMPLE = REPO / "examples" / "modal_client_app.py"

# The sandbox's own command prints nothing: its output would also stream to the terminal as the
# app's log and could interleave with the lines asserted on.
SANDBOX_APP = """
import modal

app = modal.App("nano-compat-sandbox-15")


@app.local_entrypoint()
def main():
    sb = modal.Sandbox.create("sleep", "600", app=app, secrets=[modal.Secret.from_dict({"GREETING": "hi"})])
    p = sb.exec("sh", "-c", "echo $GREETING $WHO; exit 3", env={"WHO": "there"})
    print("exec stdout:", p.stdout.read().strip())
    print("exec exit code:", p.wait())
    sb.filesystem.write_text("from outside", "/tmp/note")
    print("file:", sb.filesystem.read_text("/tmp/note"))
    sb.terminate()
    sb.wait(raise_on_termination=False)
    print("terminated returncode:", sb.returncode)
"""


@pytest.fixture(scope="module")
def previous_client(modal_cluster: ModalCluster) -> ModalCluster:
    """The running server and worker, used through modal 1.5's `modal` and Python."""
    venv = make_scratch_venv(
        PREVIOUS_VENV,
        (f"modal=={PREVIOUS_MODAL_VERSION}",),
        f"import modal; assert modal.__version__ == {PREVIOUS_MODAL_VERSION!r}",
    )
    if isinstance(venv, str):
        pytest.skip(venv)
    return dataclasses.replace(modal_cluster, venv=venv)


def test_previous_minor_runs_remote_and_map(previous_client: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    run = previous_client.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "remote: 9" in run.stdout
    assert f"map: {[x * x for x in range(10)]}" in run.stdout
    assert "caught: raised in the container" in run.stdout


def test_previous_minor_spawns_and_gets(previous_client: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, SPAWN_APP)
    run = previous_client.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("get: 49", "from_id: 49", "gather: [0, 1, 4]", "starmap: [1, 4]"):
        assert line in run.stdout


def test_previous_minor_deploys_and_calls_from_name(previous_client: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, DEPLOYED_APP.format(offset=0).replace("nano-compat-deployed", "nano-compat-deployed-15"))
    (tmp_path / "caller.py").write_text(CALLER.replace("nano-compat-deployed", "nano-compat-deployed-15"))
    deploy = previous_client.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    call = previous_client.python("caller.py", cwd=tmp_path)
    assert call.returncode == 0, call.stdout + call.stderr
    assert "remote: 64" in call.stdout
    assert "map: [1, 8]" in call.stdout


@pytest.mark.parametrize("v2", ["1", "0"])  # modal 1.5 makes V1 sandboxes unless MODAL_SANDBOX_V2=1
def test_previous_minor_sandboxes(previous_client: ModalCluster, tmp_path: Path, v2: str) -> None:
    """1.5's V2 create sends `Secret.from_dict` as `ephemeral_secrets` (1.6: `secret_sources`):
    the sandbox's `exec` sees them."""
    write_app(tmp_path, SANDBOX_APP)
    env = {**previous_client.modal_env(), "MODAL_SANDBOX_V2": v2}
    run = subprocess.run(
        [str(previous_client.venv / "bin" / "modal"), "run", "app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("exec stdout: hi there", "exec exit code: 3", "file: from outside", "terminated returncode: 137"):
        assert line in run.stdout.splitlines(), run.stdout + run.stderr


@pytest.mark.parametrize("version", ["1.4.2", "0.73.1"])
def test_older_minors_are_refused_naming_the_range(modal_cluster: ModalCluster, version: str) -> None:
    channel = grpc.insecure_channel(modal_cluster.server_url)
    method = channel.unary_unary("/modal.client.ModalClient/ClientHello")
    metadata = (
        ("x-modal-token-id", "nm"),
        ("x-modal-token-secret", modal_cluster.token),
        ("x-modal-client-version", version),
    )
    with pytest.raises(grpc.RpcError) as raised:
        method(b"", metadata=metadata, timeout=30)
    channel.close()
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == (
        f"nano-modal serves modal 1.5.x or modal 1.6.x clients; this client is {version}: pip install 'modal~=1.6.0'"
    )
