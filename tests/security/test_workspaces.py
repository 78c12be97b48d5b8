"""Workspaces keep apart: a token of workspace B (its admin token, or one of its function
containers) gets NotFound for everything of workspace A, by name and by id, and A's things
are unchanged afterwards; an invoke-only token calls A's deployed functions and nothing else.

A is the default workspace (the server's admin token); B is made with the CLI, as an
operator would. The attacks are tests/apps/workspaces_app.py's."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

import nano_modal
from nano_modal.client import Client
from nano_modal.proto import api_pb2
from tests.apps import workspaces_app as ws
from tests.conftest import Cluster

QUEUE_ITEM = "victim-queue-item"
FILE_CONTENT = b"victim-file-content"


@dataclass
class Victim:
    ids: dict[str, str]
    app_id: str


def _cli(cluster: Cluster, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cluster.env(), "NANO_MODAL_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "nano_modal", *args], env=env, capture_output=True, text=True, timeout=120
    )


@contextmanager
def as_token(token: str) -> Iterator[None]:
    saved = os.environ["NANO_MODAL_TOKEN"]
    os.environ["NANO_MODAL_TOKEN"] = token
    Client.reset()
    try:
        yield
    finally:
        os.environ["NANO_MODAL_TOKEN"] = saved
        Client.reset()


def _stub() -> object:
    from nano_modal._utils.aio import run_blocking

    return run_blocking(Client.get()).stub


def _rpc(name: str, request: object) -> object:
    from nano_modal._utils.aio import run_blocking

    stub: Any = _stub()

    async def call() -> object:
        if name == "AppLogs":  # streaming: its error comes with the first message
            return [batch async for batch in stub.stream(name, request)]
        return await getattr(stub, name)(request)

    return run_blocking(call())


@pytest.fixture(scope="module")
def victim(cluster: Cluster) -> Iterator[Victim]:
    """Workspace A's things, made with the server's admin token."""
    nano_modal.Secret.objects.create(ws.SECRET_NAME, {"SECRET": ws.SECRET_VALUE}, allow_existing=True)
    d = nano_modal.Dict.from_name(ws.DICT_NAME, create_if_missing=True)
    d.put("key", "victim-value")
    q = nano_modal.Queue.from_name(ws.QUEUE_NAME, create_if_missing=True)
    q.clear()
    q.put(QUEUE_ITEM)
    v = nano_modal.Volume.from_name(ws.VOLUME_NAME, create_if_missing=True)
    with v.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(FILE_CONTENT), "file.txt")
    ws.victim.deploy()
    echo = nano_modal.Function.from_name("ws-victim", "echo")
    call = echo.spawn("first")
    assert call.get(timeout=120) == "echo:first"
    echo.hydrate()
    app = _rpc("AppLookup", api_pb2.AppLookupRequest(name="ws-victim"))
    sb = nano_modal.Sandbox.create("sleep", "600", app=ws.victim, timeout=900, name="victim-sandbox")
    ids = {
        "sandbox": sb.object_id,
        "secret": nano_modal.Secret.from_name(ws.SECRET_NAME).hydrate().object_id,
        "dict": d.hydrate().object_id,
        "queue": q.hydrate().object_id,
        "volume": v.hydrate().object_id,
        "function": echo.object_id,
        "call": call.object_id,
    }
    yield Victim({k: str(i) for k, i in ids.items()}, app.app_id)  # type: ignore[attr-defined]
    sb.terminate()  # the session's worker has other tests to run


@pytest.fixture(scope="module")
def intruder_token(cluster: Cluster) -> str:
    """Workspace B's admin token, made with the CLI."""
    made = _cli(cluster, cluster.token, "workspace", "create", "intruders")
    assert made.returncode == 0 or "already exists" in made.stderr, made.stderr
    listed = _cli(cluster, cluster.token, "workspace", "list")
    assert "intruders" in listed.stdout and "main" in listed.stdout, listed.stdout + listed.stderr
    created = _cli(cluster, cluster.token, "token", "create", "--workspace", "intruders")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


def _assert_victim_unchanged(victim: Victim) -> None:
    """Read with A's token: nothing of A was changed, taken or cancelled."""
    d = nano_modal.Dict.from_id(victim.ids["dict"])
    assert dict(d.items()) == {"key": "victim-value"}
    q = nano_modal.Queue.from_id(victim.ids["queue"])
    assert q.len() == 1
    v = nano_modal.Volume.from_id(victim.ids["volume"])
    assert b"".join(v.read_file("file.txt")) == FILE_CONTENT
    assert nano_modal.FunctionCall.from_id(victim.ids["call"]).get(timeout=30) == "echo:first"
    assert nano_modal.Sandbox.from_id(victim.ids["sandbox"]).poll() is None  # still running


def _assert_all_not_found(outcomes: dict[str, str]) -> None:
    for attack, outcome in outcomes.items():
        assert ws.SECRET_VALUE not in outcome and "victim-value" not in outcome, (attack, outcome)
        assert outcome.startswith("NotFoundError"), (attack, outcome)


def test_another_workspaces_client_finds_nothing_of_a(cluster: Cluster, victim: Victim, intruder_token: str) -> None:
    _assert_victim_unchanged(victim)
    with as_token(intruder_token):
        outcomes = ws.attacks(victim.ids, nano_modal.App.lookup("ws-intruder-sandboxes", create_if_missing=True))
        for name, request in [
            ("AppLogs", api_pb2.AppLogsRequest(app_id=victim.app_id, history=100)),
            ("FunctionGet", api_pb2.FunctionGetRequest(function_id=victim.ids["function"])),
            ("FunctionGet", api_pb2.FunctionGetRequest(app_name="ws-victim", function_name="echo")),
            ("AppLookup", api_pb2.AppLookupRequest(name="ws-victim")),
            ("FunctionCallGet", api_pb2.FunctionCallGetRequest(call_id=victim.ids["call"])),
            ("FunctionGetCallGraph", api_pb2.FunctionCallGraphRequest(call_id=victim.ids["call"])),
            (
                "FunctionGetTimeRangeStats",
                api_pb2.FunctionTimeRangeStatsRequest(function_id=victim.ids["function"], since=0, until=2e9),
            ),
            (
                "FunctionGetMetrics",
                api_pb2.FunctionMetricsRequest(function_id=victim.ids["function"], since=0, until=3600),
            ),
            ("AppGetTimeRangeStats", api_pb2.AppTimeRangeStatsRequest(app_id=victim.app_id, since=0, until=2e9)),
            ("ObjectDelete", api_pb2.ObjectDeleteRequest(kind=api_pb2.OBJECT_KIND_DICT, object_id=victim.ids["dict"])),
            ("SandboxCreate", api_pb2.SandboxCreateRequest(app_id=victim.app_id)),
            ("SandboxGet", api_pb2.SandboxGetRequest(app_name="ws-victim", name="victim-sandbox")),
            ("SandboxTerminate", api_pb2.SandboxGetRequest(sandbox_id=victim.ids["sandbox"])),
            ("ContainerExec", api_pb2.ContainerExecRequest(container_id=victim.ids["sandbox"], argv=["true"])),
        ]:
            outcomes[f"{name} {request}"] = ws._outcome(lambda n=name, r=request: _rpc(n, r))
        listed = [s.name for s in nano_modal.Secret.objects.list()] + [d.name for d in nano_modal.Dict.objects.list()]
        apps = _rpc("AppList", api_pb2.AppListRequest())
        sandboxes = _rpc("SandboxList", api_pb2.SandboxListRequest())
    _assert_all_not_found(outcomes)
    assert victim.ids["sandbox"] not in str(sandboxes)
    assert ws.SECRET_NAME not in listed and ws.DICT_NAME not in listed, listed
    assert "ws-victim" not in [a.name for a in apps.apps]  # type: ignore[attr-defined]
    _assert_victim_unchanged(victim)


def test_another_workspaces_container_finds_nothing_of_a(cluster: Cluster, victim: Victim, intruder_token: str) -> None:
    with as_token(intruder_token), ws.intruder.run():
        outcomes = ws.intrude.remote(victim.ids)
        # A function of B cannot be given A's secret either, by name or by id.
        given = ws._outcome(lambda: _function_with_secret(victim.ids["secret"]))
        as_bucket_key = ws._outcome(lambda: _function_with_secret(victim.ids["secret"], bucket=True))
    _assert_all_not_found(
        {**outcomes, "function given A's secret id": given, "bucket mount given A's secret id": as_bucket_key}
    )
    _assert_victim_unchanged(victim)


def _function_with_secret(secret_id: str, bucket: bool = False) -> object:
    """A function of B given A's secret: as its own, or as the credentials of a CloudBucketMount
    (which the worker would use to copy a bucket into B's container)."""
    if bucket:
        mount = api_pb2.CloudBucketMount(mount_path="/b", bucket_name="loot", secret_ids=[secret_id])
        definition = api_pb2.FunctionDefinition(name="thief", cloud_bucket_mounts=[mount])
    else:
        definition = api_pb2.FunctionDefinition(name="thief", secret_ids=[secret_id])
    app_id = ws.intruder.app_id  # type: ignore[attr-defined]
    return _rpc("FunctionCreate", api_pb2.FunctionCreateRequest(app_id=app_id, definition=definition))


def test_the_cli_of_another_workspace_lists_nothing_of_a(cluster: Cluster, victim: Victim, intruder_token: str) -> None:
    secrets = _cli(cluster, intruder_token, "secret", "list")
    apps = _cli(cluster, intruder_token, "app", "list")
    logs = _cli(cluster, intruder_token, "app", "logs", "ws-victim")
    workspaces = _cli(cluster, intruder_token, "workspace", "list")
    assert secrets.returncode == 0 and ws.SECRET_NAME not in secrets.stdout, secrets.stdout + secrets.stderr
    assert apps.returncode == 0 and "ws-victim" not in apps.stdout, apps.stdout + apps.stderr
    assert logs.returncode != 0 and ws.LOG_LINE not in logs.stdout + logs.stderr, logs.stdout + logs.stderr
    assert workspaces.returncode != 0 and "needs the server's admin token" in workspaces.stderr, workspaces.stderr


def test_an_invoke_only_token_calls_deployed_functions_and_nothing_else(cluster: Cluster, victim: Victim) -> None:
    created = _cli(cluster, cluster.token, "token", "create", "--invoke-only")
    assert created.returncode == 0, created.stderr
    # A function of a running ephemeral app of the same workspace: not for invoke-only tokens.
    running = _rpc("AppCreate", api_pb2.AppCreateRequest(name="ws-ephemeral", ephemeral=True))
    definition = api_pb2.FunctionDefinition(name="never-run")
    create = api_pb2.FunctionCreateRequest(app_id=running.app_id, definition=definition)  # type: ignore[attr-defined]
    ephemeral_id = _rpc("FunctionCreate", create).function_id  # type: ignore[attr-defined]
    with as_token(created.stdout.strip().splitlines()[-1]):
        echo = nano_modal.Function.from_name("ws-victim", "echo")
        assert echo.remote("a") == "echo:a"
        assert echo.spawn("b").get(timeout=60) == "echo:b"
        assert list(echo.map(["c", "d"])) == ["echo:c", "echo:d"]
        assert nano_modal.Cls.from_name("ws-victim", "Scaler")(factor=3).scale.remote(2) == 6
        seen = _rpc("FunctionGet", api_pb2.FunctionGetRequest(function_id=victim.ids["function"]))
        assert not seen.definition.source_blob_id and not seen.definition.pickled_blob_id  # type: ignore[attr-defined]
        assert nano_modal.FunctionCall.from_id(victim.ids["call"]).get(timeout=30) == "echo:first"
        ephemeral = ws._outcome(
            lambda: _rpc("FunctionMap", api_pb2.FunctionMapRequest(function_id=ephemeral_id, inputs_complete=True))
        )
        refused = {
            "secret": ws._outcome(lambda: nano_modal.Secret.from_name(ws.SECRET_NAME).hydrate()),
            "dict": ws._outcome(lambda: nano_modal.Dict.from_id(victim.ids["dict"]).get("key")),
            "queue": ws._outcome(lambda: nano_modal.Queue.from_id(victim.ids["queue"]).get(block=False)),
            "volume": ws._outcome(lambda: nano_modal.Volume.from_id(victim.ids["volume"]).listdir("/")),
            "sandbox": ws._outcome(lambda: nano_modal.Sandbox.create(app=ws.victim, timeout=10)),
            "deploy": ws._outcome(lambda: ws.intruder.deploy()),
            "create app": ws._outcome(lambda: nano_modal.App.lookup("made-by-invoke-only", create_if_missing=True)),
            "token": ws._outcome(lambda: _rpc("TokenCreate", api_pb2.TokenCreateRequest())),
        }
    for what, outcome in refused.items():
        assert outcome.startswith("AuthError"), (what, outcome)
        assert ws.SECRET_VALUE not in outcome and "victim-value" not in outcome, (what, outcome)
    assert ephemeral.startswith("NotFoundError"), ephemeral
    code = _rpc("FunctionGet", api_pb2.FunctionGetRequest(function_id=victim.ids["function"]))
    assert code.definition.source_blob_id or code.definition.pickled_blob_id  # type: ignore[attr-defined]
    _assert_victim_unchanged(victim)
    assert _rpc("AppList", api_pb2.AppListRequest()) is not None
    names = [a.name for a in _rpc("AppList", api_pb2.AppListRequest()).apps]  # type: ignore[attr-defined]
    assert "made-by-invoke-only" not in names and "ws-intruder" not in names


def test_a_token_of_main_is_confined_too_and_b_works_in_its_own(cluster: Cluster, intruder_token: str) -> None:
    """Only the server's admin token (the operator's, which workers use) is not confined: a
    token made for main is. And B's own sandbox gets B's volume (synced by the worker)."""
    with as_token(intruder_token):
        d = nano_modal.Dict.from_name("ws-b-dict", create_if_missing=True)
        d.put("k", "b-value")
        b_dict = str(d.hydrate().object_id)
        vol = nano_modal.Volume.from_name("ws-b-volume", create_if_missing=True)
        with vol.batch_upload(force=True) as batch:
            batch.put_file(io.BytesIO(b"b-file"), "b.txt")
        app = nano_modal.App.lookup("ws-b-sandboxes", create_if_missing=True)
        sb = nano_modal.Sandbox.create("cat", "/data/b.txt", volumes={"/data": vol}, app=app, timeout=60)
        sb.wait()
        assert sb.stdout.read() == "b-file"
    created = _cli(cluster, cluster.token, "token", "create", "--workspace", "main")
    assert created.returncode == 0, created.stderr
    with as_token(created.stdout.strip().splitlines()[-1]):
        by_id = ws._outcome(lambda: nano_modal.Dict.from_id(b_dict).pop("k"))
        by_name = ws._outcome(lambda: nano_modal.Dict.from_name("ws-b-dict").get("k"))
    assert by_id.startswith("NotFoundError") and "b-value" not in by_id, by_id
    assert by_name.startswith("NotFoundError") and "b-value" not in by_name, by_name
    with as_token(intruder_token):
        assert dict(nano_modal.Dict.from_id(b_dict).items()) == {"k": "b-value"}


def test_a_container_speaking_modals_protocol_finds_nothing_of_another_workspace(
    cluster: Cluster, intruder_token: str
) -> None:
    pytest.importorskip("modal_proto")
    with as_token(intruder_token):
        d = nano_modal.Dict.from_name("ws-b-modal-dict", create_if_missing=True)
        d.put("k", "b-value")
        b_dict = str(d.hydrate().object_id)
    with ws.prober.run():
        outcomes = ws.modal_protocol.remote(b_dict)
    for what, outcome in outcomes.items():
        assert outcome.startswith("NOT_FOUND") and "b-value" not in outcome, (what, outcome)
    with as_token(intruder_token):
        assert dict(nano_modal.Dict.from_id(b_dict).items()) == {"k": "b-value"}


def test_another_workspace_lists_and_stops_its_own_containers_only(
    cluster: Cluster, victim: Victim, intruder_token: str
) -> None:
    """`container list/stop` with a workspace token: B's view has none of A's containers, and
    stopping A's sandbox by its id is not found; the operator still sees every container."""
    wide = {**cluster.env(), "COLUMNS": "250"}
    listed = subprocess.run(
        [sys.executable, "-m", "nano_modal", "container", "list"],
        env={**wide, "NANO_MODAL_TOKEN": intruder_token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert victim.ids["sandbox"] not in listed.stdout and "ws-victim" not in listed.stdout, listed.stdout
    stopped = _cli(cluster, intruder_token, "container", "stop", victim.ids["sandbox"])
    assert stopped.returncode != 0 and "not found" in stopped.stdout + stopped.stderr, stopped.stdout + stopped.stderr
    operator = subprocess.run(
        [sys.executable, "-m", "nano_modal", "container", "list"], env=wide, capture_output=True, text=True, timeout=120
    )
    assert victim.ids["sandbox"] in operator.stdout, operator.stdout + operator.stderr
    _assert_victim_unchanged(victim)
