"""Who may call what: one table (rpc_roles.py) checked before any handler, for every RPC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from nano_modal import config
from nano_modal.proto import api_pb2, api_pb2_grpc
from nano_modal.server.rpc_roles import ROLES, Role
from tests.conftest import Cluster


def test_every_rpc_has_exactly_one_role() -> None:
    rpcs = {name for name in vars(api_pb2_grpc.NanoModalServicer) if not name.startswith("_")}
    assert set(ROLES) == rpcs


_SERVICE = api_pb2.DESCRIPTOR.services_by_name["NanoModal"]


def _call(cluster: Cluster, method: str, request: Any, token: str) -> tuple[grpc.StatusCode, Any]:
    with grpc.insecure_channel(cluster.server_url) as channel:
        stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
        try:
            response = getattr(stub, method)(request, metadata=((config.TOKEN_METADATA_KEY, token),), timeout=30)
            if _SERVICE.methods_by_name[method].server_streaming:
                response = list(response)
        except grpc.RpcError as exc:
            return exc.code(), None
    return grpc.StatusCode.OK, response


def _apps(cluster: Cluster) -> list[str]:
    status, response = _call(cluster, "AppList", api_pb2.AppListRequest(), cluster.token)
    assert status == grpc.StatusCode.OK
    return [a.app_id for a in response.apps]


@pytest.mark.parametrize("method", [m for m, role in ROLES.items() if role is Role.ADMIN and m != "SandboxRelay"])
def test_admin_rpcs_refuse_a_wrong_token_before_doing_anything(cluster: Cluster, method: str) -> None:
    request_type = _SERVICE.methods_by_name[method].input_type
    request = getattr(api_pb2, request_type.name)()
    apps_before = _apps(cluster)
    assert _call(cluster, method, request, "not-a-token")[0] == grpc.StatusCode.UNAUTHENTICATED
    assert _apps(cluster) == apps_before  # nothing was created or changed


def test_container_rpcs_refuse_the_admin_token(cluster: Cluster) -> None:
    """Container RPCs belong to the container named in the request, and to no one else."""
    request = api_pb2.ContainerHeartbeatRequest(container_id="ta-nobody")
    assert _call(cluster, "ContainerHeartbeat", request, cluster.token)[0] == grpc.StatusCode.UNAUTHENTICATED


LOOKUP_CLIENT = """
import json, sys
import nano_modal

target = nano_modal.App("lookup-target")


@target.function()
def double(x: int) -> int:
    return 2 * x


caller = nano_modal.App("lookup-caller")


@caller.function()
def probe() -> dict:
    found = {"double": nano_modal.Function.from_name("lookup-target", "double").remote(21)}
    found["app_id"] = nano_modal.App.lookup("lookup-target").app_id
    try:
        nano_modal.App.lookup("lookup-made-in-a-container", create_if_missing=True)
        found["created"] = "yes"
    except Exception as exc:
        found["created"] = f"{type(exc).__name__}: {exc}"
    return found


if __name__ == "__main__":
    target.deploy()
    with caller.run():
        print(json.dumps({**probe.remote(), "deployed_id": nano_modal.App.lookup("lookup-target").app_id}))
"""


def test_a_container_may_look_up_deployed_apps_but_not_create_them(cluster: Cluster, tmp_path: Path) -> None:
    script = tmp_path / "lookup_client.py"
    script.write_text(LOOKUP_CLIENT)
    names_before = {a.name for a in _app_summaries(cluster)}
    done = subprocess.run(
        [sys.executable, str(script)], env=cluster.env(), cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["double"] == 42
    assert found["app_id"] == found["deployed_id"]
    assert found["created"].startswith("AuthError: a container may look up deployed apps, not create them")
    names_after = {a.name for a in _app_summaries(cluster)}
    assert "lookup-made-in-a-container" not in names_after
    assert names_after - names_before <= {"lookup-target", "lookup-caller"}


def _app_summaries(cluster: Cluster) -> list[Any]:
    status, response = _call(cluster, "AppList", api_pb2.AppListRequest(), cluster.token)
    assert status == grpc.StatusCode.OK
    return list(response.apps)
