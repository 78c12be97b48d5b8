"""Modal token pairs of a workspace (issues 13 and 15): `nano-modal token create --modal
--workspace W` makes a MODAL_TOKEN_ID/SECRET pair that acts in W only, names and ids alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster

APP_NAME = "nano-compat-ws"  # deployed in both workspaces, with different results
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_workspaces.py"

# A's objects, made with A's pair; prints their ids and A's function's.
MAKE_A = """
import json, modal

modal.Dict.from_name("ws-dict", create_if_missing=True)["k"] = "a"
modal.Volume.from_name("ws-vol", create_if_missing=True).hydrate()  # lazy otherwise: nothing made
secret = modal.Secret.from_name("ws-secret").hydrate()
fn = modal.Function.from_name("nano-compat-ws", "who").hydrate()
print(json.dumps({
    "dict": modal.Dict.from_name("ws-dict").hydrate().object_id,
    "volume": modal.Volume.from_name("ws-vol").hydrate().object_id,
    "secret": secret.object_id,
    "function": fn.object_id,
    "app": modal.App.lookup("nano-compat-ws").app_id,
}))
"""

# A's state as A's pair reads it: the host's state the other pairs must leave alone.
READ_A = """
import json, modal

d = modal.Dict.from_name("ws-dict")
print(json.dumps({
    "dict": sorted(d.items()),
    "volumes": sorted(v.name for v in modal.Volume.objects.list()),
    "secret": modal.Secret.from_name("ws-secret").hydrate().object_id,
    "who": modal.Function.from_name("nano-compat-ws", "who").remote(),
}))
"""

CALL_WHO = """
import modal
print("who:", modal.Function.from_name("nano-compat-ws", "who").remote())
print("web:", modal.Function.from_name("nano-compat-ws", "hello").get_web_url())
"""

# What B's pairs try against A's objects, by name and by id (the client's own calls, as
# `from_id` is not served): each line says what happened.
PROBE = """
import asyncio, json, os, sys
import modal
from modal.client import _Client
from modal_proto import api_pb2

ids = json.loads(sys.argv[1])
by_name = {
    "dict by name": lambda: modal.Dict.from_name("ws-dict").hydrate(),
    "secret by name": lambda: modal.Secret.from_name("ws-secret").hydrate(),
    "volume by name": lambda: modal.Volume.from_name("ws-vol").hydrate(),
    "function by name": lambda: modal.Function.from_name("nano-compat-ws", "only_in_a").hydrate(),
}
by_id = {
    "dict by id (read)": ("DictGet", api_pb2.DictGetRequest(dict_id=ids["dict"], key=b"k")),
    "dict by id (write)": ("DictUpdate", api_pb2.DictUpdateRequest(
        dict_id=ids["dict"], updates=[api_pb2.DictEntry(key=b"k", value=b"stolen")])),
    "volume by id (delete)": ("VolumeDelete", api_pb2.VolumeDeleteRequest(volume_id=ids["volume"])),
    "function by id (call)": ("FunctionMap", api_pb2.FunctionMapRequest(
        function_id=ids["function"], function_call_type=api_pb2.FUNCTION_CALL_TYPE_UNARY)),
    "app by id (layout)": ("AppGetLayout", api_pb2.AppGetLayoutRequest(app_id=ids["app"])),
    "app by id (stop)": ("AppStop", api_pb2.AppStopRequest(app_id=ids["app"])),
}


def outcome(exc):
    text = type(exc).__name__ + str(getattr(exc, "status", ""))
    if "NotFound" in text or "NOT_FOUND" in text:
        return "not found"
    if "PermissionDenied" in text or "PERMISSION_DENIED" in text:
        return "refused"
    return repr(exc)


for what, attempt in by_name.items():
    try:
        attempt()
        print(what, "->", "allowed")
    except Exception as exc:
        print(what, "->", outcome(exc))


async def main():
    credentials = (os.environ["MODAL_TOKEN_ID"], os.environ["MODAL_TOKEN_SECRET"])
    client = _Client(os.environ["MODAL_SERVER_URL"], api_pb2.CLIENT_TYPE_CLIENT, credentials)
    await client._open()
    for what, (method, request) in by_id.items():
        try:
            await getattr(client._stub, method)(request)
            print(what, "->", "allowed")
        except Exception as exc:
            print(what, "->", outcome(exc))


asyncio.run(main())
"""


def _cli(cluster: ModalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`nano-modal ...` as the server's operator (its admin token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
    env.update({"NANO_MODAL_SERVER_URL": cluster.server_url, "NANO_MODAL_TOKEN": cluster.token})
    command = [sys.executable, "-m", "nano_modal", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _pair(cluster: ModalCluster, workspace: str, *extra: str) -> dict[str, str]:
    created = _cli(cluster, "token", "create", "--modal", "--workspace", workspace, *extra)
    pair = dict(
        line.removeprefix("export ").split("=", 1) for line in created.stdout.splitlines() if line.startswith("export ")
    )
    return {**cluster.modal_env(), **pair}


def _run(cluster: ModalCluster, env: dict[str, str], *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [str(cluster.venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow(reason="installs modal from PyPI once; deploys in two workspaces and starts containers")
def test_workspace_pairs_act_in_their_workspace_only(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    _cli(modal_cluster, "workspace", "create", "mcws-a")
    _cli(modal_cluster, "workspace", "create", "mcws-b")
    env_a, env_b = _pair(modal_cluster, "mcws-a"), _pair(modal_cluster, "mcws-b")
    invoke_b = _pair(modal_cluster, "mcws-b", "--invoke-only")
    assert invoke_b["MODAL_TOKEN_ID"].startswith("ak-invoke-")

    for env, team in ((env_a, "A"), (env_b, "B")):  # the same program, deployed by each team
        _run(modal_cluster, {**env, "TEAM": team}, "modal", "deploy", str(EXAMPLE), cwd=tmp_path)
    _run(modal_cluster, env_a, "modal", "secret", "create", "ws-secret", "K=a", cwd=tmp_path)
    ids = json.loads(_run(modal_cluster, env_a, "python", "-c", MAKE_A, cwd=tmp_path).splitlines()[-1])
    before = _run(modal_cluster, env_a, "python", "-c", READ_A, cwd=tmp_path)
    assert json.loads(before.splitlines()[-1])["who"] == "from A"

    # The same name, each workspace's own app: B's pairs, invoke-only too, reach B's, and
    # each workspace's web endpoint answers at an address of its own.
    urls = {}
    for env, team in ((env_a, "A"), (env_b, "B"), (invoke_b, "B")):
        called = _run(modal_cluster, env, "python", "-c", CALL_WHO, cwd=tmp_path)
        assert f"who: from {team}" in called, called
        urls[team] = called.split("web: ", 1)[1].split()[0]
        with urllib.request.urlopen(urls[team], timeout=120) as response:
            assert json.loads(response.read()) == {"team": team}
    assert urls["A"] != urls["B"] and "mcws-b" in urls["B"]
    listed_b = _run(modal_cluster, env_b, "modal", "app", "list", "--json", cwd=tmp_path)
    assert ids["app"] not in listed_b and APP_NAME in listed_b
    listed_a = _run(modal_cluster, env_a, "modal", "app", "list", "--json", cwd=tmp_path)
    assert ids["app"] in listed_a and len(json.loads(listed_a)) == 1

    for env, refusals in ((env_b, {"not found"}), (invoke_b, {"not found", "refused"})):
        probed = _run(modal_cluster, env, "python", "-c", PROBE, json.dumps(ids), cwd=tmp_path)
        outcomes = dict(line.split(" -> ") for line in probed.splitlines() if " -> " in line)
        assert len(outcomes) == 10, probed
        # NotFound, as names and ids that never existed; an invoke-only pair may also be refused
        # the calls it may not make at all (dicts, volumes), but A's function is not found for it.
        assert set(outcomes.values()) <= refusals, probed
        assert outcomes["function by id (call)"] == outcomes["function by name"] == "not found", probed

    # A's objects are as they were: nothing read, written or called across.
    assert _run(modal_cluster, env_a, "python", "-c", READ_A, cwd=tmp_path) == before
