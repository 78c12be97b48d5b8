"""`nano-modal token create --modal`: a MODAL_TOKEN_ID/SECRET pair the server lets in (issue 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nano_modal import _modal_token
from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

APP = """
import modal

app = modal.App("nano-compat-token")


@app.function()
def square(x):
    return x * x


@app.local_entrypoint()
def main():
    print("remote:", square.remote(12))
"""


def test_pairs_are_bound_to_their_id_and_the_admin_token() -> None:
    token_id, secret = _modal_token.new_pair("admin-token")
    assert token_id.startswith("ak-") and secret.startswith("as-")
    assert _modal_token.valid_pair("admin-token", token_id, secret)
    assert not _modal_token.valid_pair("another-admin-token", token_id, secret)
    assert not _modal_token.valid_pair("admin-token", token_id + "0", secret)
    assert not _modal_token.valid_pair("admin-token", token_id, secret + "x")
    assert not _modal_token.valid_pair("admin-token", "nm", _modal_token.secret_for("admin-token", "nm"))


def token_create(cluster: ModalCluster, admin_token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
    env.update({"NANO_MODAL_SERVER_URL": cluster.server_url, "NANO_MODAL_TOKEN": admin_token})
    return subprocess.run(
        [sys.executable, "-m", "nano_modal", "token", "create", "--modal", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow(reason="installs modal from PyPI once; `modal run` starts a container")
def test_token_create_modal_pair_runs_an_app(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    created = token_create(modal_cluster, modal_cluster.token)
    assert created.returncode == 0, created.stdout + created.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in created.stdout.splitlines() if line.startswith("export ")
    )
    assert exports["MODAL_SERVER_URL"] == f"http://{modal_cluster.server_url}"
    assert exports["MODAL_TOKEN_ID"].startswith("ak-")
    write_app(tmp_path, APP)
    env = {**modal_cluster.modal_env(), **exports}
    modal = str(modal_cluster.venv / "bin" / "modal")
    run = subprocess.run([modal, "run", "app.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "remote: 144" in run.stdout

    for bad in ({"MODAL_TOKEN_SECRET": exports["MODAL_TOKEN_SECRET"] + "x"}, {"MODAL_TOKEN_ID": "ak-0000"}):
        refused = subprocess.run(
            [modal, "app", "list"], cwd=tmp_path, env={**env, **bad}, capture_output=True, text=True, timeout=120
        )
        assert refused.returncode != 0
        assert "token pair is not valid on this server" in refused.stdout + refused.stderr


@pytest.mark.slow(reason="installs modal from PyPI once")
def test_token_create_with_a_token_that_is_not_the_admin_token_says_so(modal_cluster: ModalCluster) -> None:
    created = token_create(modal_cluster, "not-the-admin-token")
    assert created.returncode == 1
    assert "MODAL_TOKEN_SECRET" not in created.stdout
    assert "not the server's admin token" in created.stderr


INVOKE_APP = APP.replace("nano-compat-token", "nano-compat-invoke")
CALLER = """
import modal

square = modal.Function.from_name("nano-compat-invoke", "square")
print("remote:", square.remote(7))
print("spawned:", square.spawn(3).get())
"""
OVERREACH = {  # what an application server's pair must not do: each refused, nothing made
    "run": ["run", "app.py"],
    "app list": ["app", "list"],
    "secret create": ["secret", "create", "invoke-stolen", "A=1"],
    "dict create": ["dict", "create", "invoke-made"],
}


def _exports(created: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return dict(
        line.removeprefix("export ").split("=", 1) for line in created.stdout.splitlines() if line.startswith("export ")
    )


@pytest.mark.slow(reason="installs modal from PyPI once; deploys and calls a function")
def test_an_invoke_only_pair_calls_deployed_functions_and_nothing_else(
    modal_cluster: ModalCluster, tmp_path: Path
) -> None:
    write_app(tmp_path, INVOKE_APP)
    deployed = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    created = token_create(modal_cluster, modal_cluster.token, "--invoke-only")
    assert created.returncode == 0, created.stdout + created.stderr
    pair = _exports(created)
    assert pair["MODAL_TOKEN_ID"].startswith("ak-invoke-")
    env = {**modal_cluster.modal_env(), **pair}
    python = str(modal_cluster.venv / "bin" / "python")

    called = subprocess.run([python, "-c", CALLER], env=env, capture_output=True, text=True, timeout=300)
    assert called.returncode == 0, called.stdout + called.stderr
    assert "remote: 49" in called.stdout and "spawned: 9" in called.stdout

    apps_before = modal_cluster.modal("app", "list", "--json", cwd=tmp_path)
    assert apps_before.returncode == 0, apps_before.stderr
    modal = str(modal_cluster.venv / "bin" / "modal")
    for what, args in OVERREACH.items():
        refused = subprocess.run([modal, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0, what
        assert "invoke-only" in refused.stdout + refused.stderr, (what, refused.stdout + refused.stderr)
    # The server's state as the admin sees it: no new app (the list may lose one another test
    # stopped meanwhile: CI saw an ephemeral app leave it), no secret, no dict.
    apps_after = modal_cluster.modal("app", "list", "--json", cwd=tmp_path)
    assert apps_after.returncode == 0, apps_after.stderr
    made = {a["app_id"] for a in json.loads(apps_after.stdout)} - {a["app_id"] for a in json.loads(apps_before.stdout)}
    assert not made, apps_after.stdout
    assert "invoke-stolen" not in modal_cluster.modal("secret", "list", cwd=tmp_path).stdout
    assert "invoke-made" not in modal_cluster.modal("dict", "list", cwd=tmp_path).stdout
