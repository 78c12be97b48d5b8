"""Who makes each call (a mixin of service.Service): the token's owner, checked against the
RPC's role (rpc_roles.py) before its handler runs, and kept for the handler as a Principal.

The server's admin token is the operator's (workspaces.py: names in main, ids unchecked); a
workspace token acts in its workspace, as its admin or invoke-only; a function container
in its app's workspace, narrowed further by restrict_modal_access.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import time
from typing import Any

import grpc
import grpc.aio

from .. import config
from .control import ControlPlane
from .rpc_roles import INVOKE_ONLY, Role
from .state import Container
from .workspaces import Principal, Workspaces

Context = grpc.aio.ServicerContext[Any, Any]

log = logging.getLogger("nano_modal.server")

# Who makes the current call: set by each RPC's role check (None: the server's admin token).
_caller: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("nano_modal_caller", default=None)
_OPERATOR = Principal(config.DEFAULT_WORKSPACE, operator=True)


def restricted_refusal(function_name: str) -> str:
    """Why a container of a function with restrict_modal_access=True may not make a call
    (here, and on Modal's protocol: modal_compat/base.py)."""
    return f"{function_name} runs with restrict_modal_access=True: it may not use the platform's API"


def set_principal(principal: Principal) -> None:
    _caller.set(principal)


class Callers:
    """Service provides `admin_token`, `control` and `workspaces`."""

    admin_token: str
    control: ControlPlane
    workspaces: Workspaces

    def _token(self, context: Context) -> str:
        for key, value in context.invocation_metadata() or ():
            if key == config.TOKEN_METADATA_KEY:
                return str(value)
        return ""

    def valid_token(self, token: str) -> bool:
        """The admin's, a workspace's or a live container's: the fast lane reads large frames only then."""
        return (
            hmac.compare_digest(token, self.admin_token)
            or self.workspaces.find(token) is not None
            or self.control.container_by_token(token) is not None
        )

    def _container_principal(self, container: Container) -> Principal:
        return Principal(self.control.app(container.app_id).workspace, container=container)

    async def _authorize(self, name: str, role: Role, request: Any, context: Context) -> Principal:
        """Check the caller against the RPC's role (rpc_roles.py) and say who it is; aborts
        the call otherwise."""
        token = self._token(context)
        if role is Role.CONTAINER:
            container = self.control.container_by_token(token)
            if container is None or container.container_id != request.container_id:
                # E.g. a container of a worker declared dead, back from a partition: what it sends is dropped.
                log.info(
                    "refused a call from container %s (%s): its token is no longer valid",
                    request.container_id,
                    context.peer(),
                )
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "this token does not belong to that container")
            assert container is not None
            container.last_heard = time.monotonic()
            return self._container_principal(container)
        if hmac.compare_digest(token, self.admin_token):
            return _OPERATOR
        grant = self.workspaces.find(token)
        if grant is not None:
            if role is Role.OPERATOR:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{name} needs the server's admin token")
            if grant.invoke_only and name not in INVOKE_ONLY:
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"an invoke-only token may only look up and call functions of deployed apps, not {name}",
                )
            return grant
        admin_only = role in (Role.ADMIN, Role.OPERATOR)
        container = self.control.container_by_token(token) if not admin_only else None
        if container is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid or missing token")
        assert container is not None
        definition = self.control._function(container.function_id).definition
        volume_id = getattr(request, "volume_id", "") if role is Role.VOLUME else ""
        own_volume = bool(volume_id) and volume_id in {m.volume_id for m in definition.volume_mounts}
        if definition.restrict_modal_access and role is not Role.PAYLOADS and not own_volume:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, restricted_refusal(definition.name))
        return self._container_principal(container)

    def principal(self) -> Principal:
        """Who makes the current call, as checked by its role."""
        return _caller.get() or _OPERATOR

    def workspace(self) -> str:
        """The workspace the current call acts in: names are looked up there only."""
        return self.principal().workspace

    def caller(self) -> Container | None:
        """The container making the current call (None: a client's token), as checked by its role."""
        return self.principal().container

    def calling_container(self) -> Container:
        """The container making the current call, for the RPCs of Role.CONTAINER."""
        container = self.principal().container
        assert container is not None, "only for Role.CONTAINER RPCs"
        return container
