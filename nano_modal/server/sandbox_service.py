"""The gRPC face of sandboxes and containers (a mixin of service.Service).

The admin token may do everything. A function container's token may create and drive
sandboxes of its own app only (other apps' sandboxes do not exist for it); listing and
stopping containers and the workers' relay stream are admin only. A sandbox holds no
token at all, so nothing inside one can call any of these. A function container may hand a
sandbox or an exec only the secrets its own function was given: a secret's id (any
container can look one up by name) must not be a way to read its values.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from ..proto import api_pb2
from .control import Invalid, NotFound
from .sandbox_ports import connect_token
from .sandboxes import Finished, SandboxPlane
from .state import Container
from .stats import sandbox_stats
from .workspaces import Principal

Context = grpc.aio.ServicerContext[Any, Any]
LONG_POLL_MAX = 50.0  # seconds a read or wait may be held server-side


class SandboxRpcs:
    """RPC handlers for sandboxes. Service provides `sandboxes` and `caller`."""

    sandboxes: SandboxPlane

    def caller(self) -> Container | None:  # provided by Service: checked by the RPC's role (rpc_roles.py)
        raise NotImplementedError

    def principal(self) -> Principal:  # provided by Service: who the caller is
        raise NotImplementedError

    def workspace(self) -> str:  # provided by Service: the caller's workspace
        raise NotImplementedError

    def _in_workspace(self, app_id: str) -> bool:
        """Whether a sandbox's app is the caller's workspace's (lookups by name and listings)."""
        app = self.sandboxes.control.apps.get(app_id)
        return app is not None and app.workspace == self.workspace()

    async def _own_secrets_only(self, context: Context, secret_ids: Any) -> None:
        """Refuse a container that passes secrets its own function does not have."""
        container = self.caller()
        if container is None:
            return  # the admin may use every secret
        fn = self.sandboxes.control._function(container.function_id)
        foreign = sorted(set(secret_ids) - set(fn.definition.secret_ids))
        if foreign:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{fn.name} may pass to a sandbox or exec only the secrets it was given itself,"
                f" not {', '.join(foreign)}",
            )

    async def _call(self, context: Context, fn: Any, *args: Any, admin_only: bool = False) -> Any:
        """Run `fn` (awaiting it if need be) in its caller's scope, translate errors."""
        kwargs = {}
        if not admin_only:  # the admin-only ones are Role.ADMIN: no scope
            container = self.caller()
            kwargs["scope"] = "" if container is None else container.app_id
        try:
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Finished as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    async def SandboxCreate(self, request: api_pb2.SandboxCreateRequest, context: Context) -> api_pb2.SandboxInfo:
        await self._own_secrets_only(context, request.definition.secret_ids)
        return self.sandboxes.info(await self._call(context, self.sandboxes.create, request))

    async def SandboxGet(self, request: api_pb2.SandboxGetRequest, context: Context) -> api_pb2.SandboxInfo:
        if request.sandbox_id:
            sb = await self._call(context, self.sandboxes.get, request.sandbox_id)
        else:
            from_name = functools.partial(self.sandboxes.from_name, visible=self._in_workspace)
            sb = await self._call(context, from_name, request.app_name, request.name)
        return self.sandboxes.info(sb)

    async def SandboxGetStats(
        self, request: api_pb2.SandboxStatsRequest, context: Context
    ) -> api_pb2.SandboxStatsResponse:
        sb = await self._call(context, self.sandboxes.get, request.sandbox_id)
        found: api_pb2.SandboxStatsResponse = await self._call(
            context, sandbox_stats, sb, request.since, request.until, admin_only=True
        )
        return found

    async def SandboxList(self, request: api_pb2.SandboxListRequest, context: Context) -> api_pb2.SandboxListResponse:
        found = await self._call(
            context, self.sandboxes.matching, request.app_id, dict(request.tags), request.include_finished
        )
        mine = [sb for sb in found if self._in_workspace(sb.app_id)]
        return api_pb2.SandboxListResponse(sandboxes=[self.sandboxes.info(sb) for sb in mine])

    async def SandboxWait(self, request: api_pb2.SandboxWaitRequest, context: Context) -> api_pb2.SandboxInfo:
        timeout = min(max(request.timeout, 0.0), LONG_POLL_MAX)
        return self.sandboxes.info(await self._call(context, self.sandboxes.wait, request.sandbox_id, timeout))

    async def SandboxTerminate(self, request: api_pb2.SandboxGetRequest, context: Context) -> api_pb2.Empty:
        await self._call(context, self.sandboxes.terminate, request.sandbox_id)
        return api_pb2.Empty()

    async def SandboxTagsSet(self, request: api_pb2.SandboxTagsSetRequest, context: Context) -> api_pb2.Empty:
        sb = await self._call(context, self.sandboxes.get, request.sandbox_id)
        sb.tags = dict(request.tags)
        return api_pb2.Empty()

    async def SandboxCreateConnectToken(
        self, request: api_pb2.SandboxCreateConnectTokenRequest, context: Context
    ) -> api_pb2.SandboxCreateConnectTokenResponse:
        made: api_pb2.SandboxCreateConnectTokenResponse = await self._call(
            context, functools.partial(connect_token, self.sandboxes), request
        )
        return made

    async def SandboxRelay(
        self, requests: AsyncIterator[api_pb2.SandboxRelayUp], context: Context
    ) -> AsyncIterator[api_pb2.SandboxRelayDown]:
        try:
            async for down in self.sandboxes.relay(requests):
                yield down
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))

    async def ContainerExec(
        self, request: api_pb2.ContainerExecRequest, context: Context
    ) -> api_pb2.ContainerExecResponse:
        await self._own_secrets_only(context, request.secret_ids)
        state = await self._call(context, self.sandboxes.exec, request)
        return api_pb2.ContainerExecResponse(exec_id=state.exec_id)

    async def ContainerExecGetOutput(
        self, request: api_pb2.ContainerExecGetOutputRequest, context: Context
    ) -> api_pb2.ContainerExecGetOutputResponse:
        timeout = min(max(request.timeout, 0.0), LONG_POLL_MAX)
        response: api_pb2.ContainerExecGetOutputResponse = await self._call(
            context, self.sandboxes.read, request.exec_id, request.fd, request.offset, timeout
        )
        return response

    async def ContainerExecPutInput(
        self, request: api_pb2.ContainerExecPutInputRequest, context: Context
    ) -> api_pb2.Empty:
        await self._call(context, self.sandboxes.write, request)
        return api_pb2.Empty()

    async def ContainerExecWait(
        self, request: api_pb2.ContainerExecWaitRequest, context: Context
    ) -> api_pb2.ContainerExecWaitResponse:
        timeout = min(max(request.timeout, 0.0), LONG_POLL_MAX)
        state = await self._call(context, self.sandboxes.wait_exec, request.exec_id, timeout)
        done = state.returncode is not None
        return api_pb2.ContainerExecWaitResponse(done=done, returncode=state.returncode if done else 0)

    async def ContainerList(
        self, request: api_pb2.ContainerListRequest, context: Context
    ) -> api_pb2.ContainerListResponse:
        # The operator sees every workspace's containers; a workspace's admin its own.
        workspace = None if self.principal().operator else self.workspace()
        return api_pb2.ContainerListResponse(containers=self.sandboxes.containers(request.include_finished, workspace))

    async def ContainerStop(self, request: api_pb2.ContainerStopRequest, context: Context) -> api_pb2.Empty:
        await self._call(context, self.sandboxes.stop, request.container_id, admin_only=True)
        return api_pb2.Empty()
