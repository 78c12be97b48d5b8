"""The gRPC face of workspaces and their tokens (a mixin of service.Service), and the owner
of each kind of id, for workspaces.WorkspaceScope.

Creating and listing workspaces is the server operator's (its admin token). A workspace's
admin token may create tokens of its own workspace; the operator of any.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio

from ..proto import api_pb2
from .control import ControlPlane, NotFound
from .object_service import ObjectPlane
from .sandboxes import SandboxPlane
from .workspace_limits import Limits
from .workspaces import Principal, Workspaces, WorkspaceScope

Context = grpc.aio.ServicerContext[Any, Any]


def workspace_scope(control: ControlPlane, objects: ObjectPlane | None, sandboxes: SandboxPlane) -> WorkspaceScope:
    """Who owns each kind of id: an app's workspace is its row's; everything else is an app's
    (functions, calls, containers, sandboxes, processes) or an object row's."""

    def app(app_id: str) -> str | None:
        found = control.apps.get(app_id)
        if found is not None:
            return found.workspace
        row = control.store.get_app(app_id)
        return row.workspace if row else None

    def function_app(function_id: str) -> str | None:
        fn = control.functions.get(function_id)
        if fn is None:
            try:
                fn = control._function(function_id)
            except NotFound:
                return None
        return fn.app_id

    def call_app(call_id: str) -> str | None:
        try:
            return function_app(control.get_call(call_id).function_id)
        except NotFound:
            return None

    def sandbox(sandbox_id: str) -> str | None:
        sb = sandboxes.sandboxes.get(sandbox_id) or sandboxes.attached.get(sandbox_id)
        return app(sb.app_id) if sb else None

    def container(container_id: str) -> str | None:
        found = control.containers.get(container_id)
        return app(found.app_id) if found else None

    def process(exec_id: str) -> str | None:
        state = sandboxes.execs.get(exec_id)
        return sandbox(state.sandbox_id) if state else None

    def obj(object_id: str) -> str | None:
        if objects is None:
            return None
        row = objects.registry.rows.get(object_id) or objects.registry.store.get_object(object_id)
        return row.workspace if row else None

    def of_app(app_id: str | None) -> str | None:
        return app(app_id) if app_id else None

    def invocable(kind: str, value: str) -> bool:
        app_id = function_app(value) if kind == "function" else call_app(value) if kind == "call" else None
        found = control.apps.get(app_id) if app_id else None
        return found is not None and found.state == "deployed"

    owners = {
        "app": app,
        "function": lambda i: of_app(function_app(i)),
        "call": lambda i: of_app(call_app(i)),
        "sandbox": sandbox,
        "container": container,
        "process": process,
        **dict.fromkeys(("object", "dict", "queue", "volume", "secret"), obj),
    }
    return WorkspaceScope(owners, invocable)


class WorkspaceRpcs:
    """RPC handlers for workspaces. Service provides `workspaces`, `control` and `principal`."""

    workspaces: Workspaces
    control: ControlPlane

    def principal(self) -> Principal:  # provided by Service: checked by the RPC's role (rpc_roles.py)
        raise NotImplementedError

    async def WorkspaceCreate(self, request: api_pb2.WorkspaceCreateRequest, context: Context) -> api_pb2.Empty:
        if not self.workspaces.create(request.name):
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"workspace {request.name!r} already exists")
        if request.HasField("limits"):
            self.workspaces.set_limits(request.name, _limits(request.limits))
        return api_pb2.Empty()

    async def WorkspaceSetLimits(self, request: api_pb2.WorkspaceSetLimitsRequest, context: Context) -> api_pb2.Empty:
        self.workspaces.set_limits(request.name, _limits(request.limits))
        return api_pb2.Empty()

    async def WorkspaceList(self, request: api_pb2.Empty, context: Context) -> api_pb2.WorkspaceListResponse:
        found = []
        for name, created in self.workspaces.names():
            limits, usage = self.workspaces.limits_of(name), self.control.containers.usage(name)
            found.append(
                api_pb2.WorkspaceInfo(
                    name=name,
                    created_at=created,
                    limits=api_pb2.WorkspaceLimits(
                        max_containers=limits.max_containers,
                        max_cpu=limits.max_cpu,
                        max_memory_mb=limits.max_memory_mb,
                    ),
                    containers=usage.containers,
                    cpu=usage.cpu,
                    memory_mb=usage.memory_mb,
                )
            )
        return api_pb2.WorkspaceListResponse(workspaces=found)

    async def TokenCreate(self, request: api_pb2.TokenCreateRequest, context: Context) -> api_pb2.TokenCreateResponse:
        principal = self.principal()
        workspace = request.workspace or principal.workspace
        if workspace != principal.workspace and not principal.operator:
            # Another workspace does not exist for this token: the same answer as a missing one.
            raise NotFound(f"workspace {workspace!r} not found")
        token = self.workspaces.new_token(workspace, request.invoke_only)
        return api_pb2.TokenCreateResponse(token=token, workspace=workspace)


def _limits(message: api_pb2.WorkspaceLimits) -> Limits:
    return Limits(message.max_containers, message.max_cpu, message.max_memory_mb)
