"""`modal run` with the real client from PyPI runs an app on nano-modal (issue 15, first step)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import grpc
import pytest

from tests.modal_compat.conftest import ModalCluster

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; each `modal run` starts containers")

APP = """
import modal

app = modal.App("nano-compat-demo")


@app.function()
def square(x):
    print(f"squaring {x}")
    return x * x


@app.function()
def fail():
    raise ValueError("raised in the container")


@app.local_entrypoint()
def main():
    print("remote:", square.remote(3))
    print("map:", list(square.map(range(10))))
    try:
        fail.remote()
    except ValueError as exc:
        print("caught:", exc)
"""


def write_app(directory: Path, source: str) -> Path:
    path = directory / "app.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_modal_run_remote_and_map(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "remote: 9" in run.stdout
    assert f"map: {[x * x for x in range(10)]}" in run.stdout
    assert "caught: raised in the container" in run.stdout


def test_wrong_token_pair_is_named(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path, token_secret="not-the-token")
    assert run.returncode != 0
    assert "token pair is not valid on this server" in run.stdout + run.stderr


def test_method_not_served_is_named(modal_cluster: ModalCluster) -> None:
    channel = grpc.insecure_channel(modal_cluster.server_url)
    method = channel.unary_unary("/modal.client.ModalClient/WorkspaceNameLookup")
    metadata = (("x-modal-token-id", "nm"), ("x-modal-token-secret", modal_cluster.token))
    with pytest.raises(grpc.RpcError) as raised:
        method(b"", metadata=metadata, timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "nano-modal does not serve ModalClient/WorkspaceNameLookup yet" in (raised.value.details() or "")
    channel.close()
