"""Who may call what: one table (rpc_roles.py) checked before any handler, for every RPC."""

from __future__ import annotations

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
