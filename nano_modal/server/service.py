"""The gRPC face of the control plane: checks credentials, converts messages, delegates."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from .. import config
from ..proto import api_pb2, api_pb2_grpc
from ..version import __version__
from . import function_admin
from .blobs import BlobStore, BlobTooLarge
from .callers import Callers, set_principal
from .control import ControlPlane, Invalid, NotFound
from .deployments import Deployments
from .errors import ServerError
from .object_service import ObjectPlane, ObjectRpcs
from .rpc_roles import ROLES, Role
from .sandbox_service import SandboxRpcs
from .sandboxes import SandboxPlane
from .stats_service import StatsRpcs
from .store import OutputRow
from .tunnels import LABEL_PREFIX as TUNNEL_LABEL_PREFIX
from .tunnels import PATH_PREFIX as TUNNEL_PATH_PREFIX
from .web_routes import hash_secret
from .workspace_service import WorkspaceRpcs, workspace_scope
from .workspaces import Workspaces

Context = grpc.aio.ServicerContext[Any, Any]

log = logging.getLogger("nano_modal.server")


def _output_proto(row: OutputRow, log_sync_lines: dict[str, int]) -> api_pb2.FunctionOutput:
    return api_pb2.FunctionOutput(
        log_sync_lines=log_sync_lines.get(row.input_id, 0),
        input_id=row.input_id,
        idx=row.idx,
        status=row.status,  # type: ignore[arg-type]
        data=api_pb2.Payload(data=row.data, blob_id=row.data_blob),
        exception_repr=row.exception_repr,
        traceback=row.traceback,
        cursor=row.cursor,
    )


class Service(Callers, ObjectRpcs, SandboxRpcs, WorkspaceRpcs, StatsRpcs, api_pb2_grpc.NanoModalServicer):
    # Who is calling comes from Callers (callers.py); Dict/Queue/Secret/Volume RPCs from
    # ObjectRpcs (object_service.py), sandbox and container RPCs from SandboxRpcs
    # (sandbox_service.py), workspaces' from WorkspaceRpcs (workspace_service.py), stats and call
    # graphs from StatsRpcs (stats_service.py).
    def __init__(
        self,
        control: ControlPlane,
        blobs: BlobStore,
        admin_token: str,
        objects: ObjectPlane | None = None,
        *,
        web_base_url: str = "",
        fast_lane_port: int = 0,
        web_domain: str = "",
    ) -> None:
        if objects is not None:
            self.objects = objects
        self.control = control
        self.sandboxes = SandboxPlane(control, self._secret_env)
        self.deployments = Deployments(control)
        self.blobs = blobs
        self.admin_token = admin_token
        self.web_base_url = web_base_url  # where this server's HTTP gateway listens (named in Hello)
        self.fast_lane_port = fast_lane_port  # this server's fast lane (0: none)
        self.web_domain = web_domain  # endpoints' hosts are <label>.<web_domain> ("": path form only)
        self.workspaces = Workspaces(control.store)
        control.workspace_limits = self.workspaces.limits_of  # checked at placement
        self.scope = workspace_scope(control, objects, self.sandboxes)

    def _secret_env(self, secret_ids: list[str]) -> dict[str, str]:
        env: dict[str, str] = {}
        for secret_id in secret_ids:
            env.update(self.objects.secrets.variables(secret_id))
        return env

    async def _guard(self, context: Context, fn: Any) -> Any:
        try:
            return fn()
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    # --- session and apps ------------------------------------------------------------

    async def Hello(self, request: api_pb2.HelloRequest, context: Context) -> api_pb2.HelloResponse:
        container = self.caller()
        return api_pb2.HelloResponse(
            server_version=__version__,
            protocol_version=config.PROTOCOL_VERSION,
            role="container" if container else "admin",
            web_base_url=self.web_base_url,
            web_domain=self.web_domain,
            workspace=self.workspace(),
            fast_lane_port=self.fast_lane_port,
            worker_runtimes=[] if container else self.control.worker_runtimes(),
        )

    async def ProxyTokenCreate(self, request: api_pb2.Empty, context: Context) -> api_pb2.ProxyToken:
        key, secret = f"wk-{secrets.token_hex(8)}", f"ws-{secrets.token_urlsafe(24)}"
        self.control.store.create_proxy_token(key, hash_secret(secret), self.workspace())
        return api_pb2.ProxyToken(key=key, secret=secret)

    async def AppCreate(self, request: api_pb2.AppCreateRequest, context: Context) -> api_pb2.AppCreateResponse:
        workspace = self.workspace()
        app_id = await self._guard(
            context,
            lambda: self.control.create_app(request.name or "app", request.ephemeral, workspace, dict(request.tags)),
        )
        return api_pb2.AppCreateResponse(app_id=app_id)

    async def AppSetTags(self, request: api_pb2.AppSetTagsRequest, context: Context) -> api_pb2.Empty:
        await self._guard(context, lambda: self.control.set_app_tags(request.app_id, dict(request.tags)))
        return api_pb2.Empty()

    async def AppGetTags(self, request: api_pb2.AppGetTagsRequest, context: Context) -> api_pb2.AppTags:
        tags = await self._guard(context, lambda: self.control.app_tags(request.app_id))
        return api_pb2.AppTags(tags=tags)

    async def AppStop(self, request: api_pb2.AppStopRequest, context: Context) -> api_pb2.Empty:
        await self._guard(context, lambda: self.control.stop_app(request.app_id))
        await self.control.outputs_written()  # the inputs' cancelled outputs too: durable before the answer
        return api_pb2.Empty()

    async def AppHeartbeat(self, request: api_pb2.AppHeartbeatRequest, context: Context) -> api_pb2.Empty:
        await self._guard(context, lambda: self.control.heartbeat_app(request.app_id))
        return api_pb2.Empty()

    async def AppLogs(self, request: api_pb2.AppLogsRequest, context: Context) -> AsyncIterator[api_pb2.LogBatch]:
        app = await self._guard(context, lambda: self.control.app(request.app_id))
        if request.history:
            stored = self.control.store.tail_logs(request.app_id, request.history)
            yield api_pb2.LogBatch(
                lines=[
                    api_pb2.LogLine(
                        function_name=r.function_name,
                        container_id=r.container_id,
                        fd=r.fd,
                        data=r.data,
                        timestamp=r.timestamp,
                        call_id=r.call_id,
                    )
                    for r in stored
                ]
            )
        if request.follow or app.ephemeral:
            async for lines in self.control.follow_logs(request.app_id):
                yield api_pb2.LogBatch(lines=lines)
        yield api_pb2.LogBatch(app_done=True)

    async def AppDeploy(self, request: api_pb2.AppDeployRequest, context: Context) -> api_pb2.AppDeployResponse:
        response: api_pb2.AppDeployResponse = await self._guard(
            context, lambda: self.deployments.deploy(request, workspace=self.workspace())
        )
        return response

    async def AppLookup(self, request: api_pb2.AppLookupRequest, context: Context) -> api_pb2.AppSummary:
        if request.create_if_missing and (self.caller() is not None or self.principal().invoke_only):
            who = "an invoke-only token" if self.principal().invoke_only else "a container"
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{who} may look up deployed apps, not create them: no app {request.name!r} "
                "was created (App.lookup(create_if_missing=True) is for clients holding an admin token)",
            )
        workspace = self.workspace()
        app = await self._guard(
            context, lambda: self.deployments.lookup(request.name, request.create_if_missing, workspace)
        )
        return self.deployments.summary(app)

    async def AppList(self, request: api_pb2.AppListRequest, context: Context) -> api_pb2.AppListResponse:
        rows = self.control.store.list_apps(self.workspace(), live_only=request.live_only)
        return api_pb2.AppListResponse(apps=self.deployments.summaries(rows))

    async def AppHistory(self, request: api_pb2.AppHistoryRequest, context: Context) -> api_pb2.AppHistoryResponse:
        response: api_pb2.AppHistoryResponse = await self._guard(
            context, lambda: self.deployments.history(request.name, self.workspace())
        )
        return response

    async def AppRollback(self, request: api_pb2.AppRollbackRequest, context: Context) -> api_pb2.AppDeployResponse:
        response: api_pb2.AppDeployResponse = await self._guard(
            context, lambda: self.deployments.rollback(request.name, request.version, self.workspace())
        )
        return response

    async def FunctionBindParams(
        self, request: api_pb2.FunctionBindParamsRequest, context: Context
    ) -> api_pb2.FunctionBindParamsResponse:
        function_id = await self._guard(
            context, lambda: self.control.bind_function(request.function_id, request.params, request.definition)
        )
        return api_pb2.FunctionBindParamsResponse(function_id=function_id)

    async def FunctionGet(self, request: api_pb2.FunctionGetRequest, context: Context) -> api_pb2.FunctionGetResponse:
        if request.function_id:
            fn = await self._guard(context, lambda: self.control._function(request.function_id))
            response = api_pb2.FunctionGetResponse(function_id=fn.function_id, definition=fn.definition)
        else:
            response = await self._guard(
                context, lambda: self.deployments.function(request.app_name, request.function_name, self.workspace())
            )
        response.app_id = self.control._function(response.function_id).app_id
        if self.principal().invoke_only:  # it may call the code, not download it (blobs are fetched by id)
            response.definition.ClearField("source_blob_id")
            response.definition.ClearField("pickled_blob_id")
        if request.include_stats:
            response.stats.CopyFrom(
                await self._guard(context, lambda: function_admin.function_stats(self.control, response.function_id))
            )
        return response

    async def FunctionUpdateAutoscaler(
        self, request: api_pb2.FunctionUpdateAutoscalerRequest, context: Context
    ) -> api_pb2.FunctionGetResponse:
        await self._guard(context, lambda: function_admin.update_autoscaler(self.control, request))
        fn = self.control._function(request.function_id)
        return api_pb2.FunctionGetResponse(function_id=fn.function_id, definition=fn.definition)

    # --- functions and calls ---------------------------------------------------------

    async def FunctionCreate(
        self, request: api_pb2.FunctionCreateRequest, context: Context
    ) -> api_pb2.FunctionCreateResponse:
        function_id = await self._guard(
            context, lambda: self.control.create_function(request.app_id, request.definition)
        )
        return api_pb2.FunctionCreateResponse(function_id=function_id)

    async def FunctionMap(self, request: api_pb2.FunctionMapRequest, context: Context) -> api_pb2.FunctionMapResponse:

        # A .remote() waiting for its output hears nothing before it: its input may run first.
        answered_with_output = request.wait_for_output > 0 and request.kind == api_pb2.CALL_KIND_REMOTE
        # A call graph's edge is kept only from the container running that input (no one else
        # may hang calls under another's input).
        caller = self.caller()
        parent = request.parent_input_id if caller is not None and request.parent_input_id in caller.held else ""

        def start() -> Any:
            return self.control.start_call(
                request.function_id,
                request.kind,
                request.inputs,
                request.inputs_complete,
                run_before_written=answered_with_output,
                parent_input_id=parent,
            )

        call = await self._guard(context, start)
        if call.written is not None:
            await asyncio.shield(call.written)  # nothing is answered before the call is in the store
        response = api_pb2.FunctionMapResponse(call_id=call.call_id)
        if request.wait_for_output > 0:
            rows, _ = await self.control.wait_outputs(call.call_id, 0, 1000, request.wait_for_output)
            response.outputs.extend(_output_proto(r, self.control.log_sync_lines) for r in rows)
            response.next_cursor = rows[-1].cursor if rows else 0
        return response

    async def FunctionPutInputs(
        self, request: api_pb2.FunctionPutInputsRequest, context: Context
    ) -> api_pb2.FunctionPutInputsResponse:

        def put() -> None:
            call = self.control.get_call(request.call_id)
            self.control.add_inputs(call, request.inputs, request.inputs_complete)

        await self._guard(context, put)
        return api_pb2.FunctionPutInputsResponse()

    async def FunctionGetOutputs(
        self, request: api_pb2.FunctionGetOutputsRequest, context: Context
    ) -> api_pb2.FunctionGetOutputsResponse:
        await self._guard(context, lambda: self.control.get_call(request.call_id))
        timeout = min(request.timeout, config.OUTPUTS_POLL_TIMEOUT * 3)
        rows, call = await self.control.wait_outputs(
            request.call_id, request.after_cursor, request.max_outputs or 1000, timeout
        )
        next_cursor = rows[-1].cursor if rows else request.after_cursor
        more = len(rows) >= (request.max_outputs or 1000)
        return api_pb2.FunctionGetOutputsResponse(
            outputs=[_output_proto(r, self.control.log_sync_lines) for r in rows],
            next_cursor=next_cursor,
            call_done=call.done and not more,
            num_pending=call.num_inputs - call.num_final,
        )

    async def FunctionCallCancel(self, request: api_pb2.FunctionCallCancelRequest, context: Context) -> api_pb2.Empty:
        await self._guard(context, lambda: self.control.cancel_call(request.call_id))
        await self.control.outputs_written()  # the inputs' cancelled outputs too: durable before the answer
        return api_pb2.Empty()

    async def FunctionCallGet(
        self, request: api_pb2.FunctionCallGetRequest, context: Context
    ) -> api_pb2.FunctionCallGetResponse:

        def describe() -> api_pb2.FunctionCallGetResponse:
            call = self.control.get_call(request.call_id)
            fn = self.control._function(call.function_id)
            return api_pb2.FunctionCallGetResponse(
                call_id=call.call_id,
                function_name=fn.name,
                kind=call.kind,  # type: ignore[arg-type]
                is_generator=fn.definition.is_generator,
                app_id=fn.app_id,
            )

        result: api_pb2.FunctionCallGetResponse = await self._guard(context, describe)
        return result

    # --- blobs -----------------------------------------------------------------------

    async def BlobHas(self, request: api_pb2.BlobHasRequest, context: Context) -> api_pb2.BlobHasResponse:
        try:
            return api_pb2.BlobHasResponse(exists=self.blobs.has(request.blob_id))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise

    async def BlobPut(
        self, request_iterator: AsyncIterator[api_pb2.BlobChunk], context: Context
    ) -> api_pb2.BlobPutResponse:
        blob_id = ""
        writer = self.blobs.writer()  # to disk as it comes: an upload is never held in memory
        try:
            async for chunk in request_iterator:
                blob_id = blob_id or chunk.blob_id
                writer.write(chunk.data)
            writer.finish(blob_id)
        except BlobTooLarge as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except BaseException:
            writer.abort()
            raise
        return api_pb2.BlobPutResponse(blob_id=blob_id)

    async def BlobGet(self, request: api_pb2.BlobGetRequest, context: Context) -> AsyncIterator[api_pb2.BlobChunk]:
        try:
            chunks = self.blobs.chunks(request.blob_id)
            first = next(chunks)
        except (ValueError, FileNotFoundError):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"blob {request.blob_id} not found")
            return
        yield api_pb2.BlobChunk(blob_id=request.blob_id, data=first)
        for data in chunks:  # read as sent: a large blob is never held in memory
            yield api_pb2.BlobChunk(blob_id=request.blob_id, data=data)

    # --- workers ---------------------------------------------------------------------

    async def WorkerRegister(
        self, request: api_pb2.WorkerRegisterRequest, context: Context
    ) -> api_pb2.WorkerRegisterResponse:
        return api_pb2.WorkerRegisterResponse(worker_id=self.control.register_worker(request))

    async def WorkerPoll(self, request: api_pb2.WorkerPollRequest, context: Context) -> api_pb2.WorkerPollResponse:
        return await self.control.poll_worker(request)

    async def WorkerLogs(self, request: api_pb2.WorkerLogsRequest, context: Context) -> api_pb2.Empty:
        self.control.publish_logs(request.lines)
        return api_pb2.Empty()

    async def WorkerContainerExited(
        self, request: api_pb2.WorkerContainerExitedRequest, context: Context
    ) -> api_pb2.Empty:
        self.control.container_exited(request.container_id, request.exit_code, request.reason)
        return api_pb2.Empty()

    # --- containers ------------------------------------------------------------------

    async def ContainerHello(
        self, request: api_pb2.ContainerHelloRequest, context: Context
    ) -> api_pb2.ContainerHelloResponse:
        container = self.calling_container()
        fn = self.control.container_hello(container)
        siblings = {f.name: f.function_id for f in self.control.functions.values() if f.app_id == fn.app_id}
        return api_pb2.ContainerHelloResponse(
            function_id=fn.function_id,
            app_id=fn.app_id,
            definition=fn.definition,
            app_function_ids=siblings,
            fast_lane_port=self.fast_lane_port,
        )

    async def ContainerGetInputs(
        self, request: api_pb2.ContainerGetInputsRequest, context: Context
    ) -> api_pb2.ContainerGetInputsResponse:
        container = self.calling_container()
        batch = await self.control.take_inputs(container, request.max_inputs, request.timeout, request.request_seq)
        if batch is None:
            return api_pb2.ContainerGetInputsResponse(shutdown=True)
        return api_pb2.ContainerGetInputsResponse(inputs=[item.to_proto() for item in batch])

    async def ContainerPutOutputs(self, request: api_pb2.ContainerPutOutputsRequest, context: Context) -> api_pb2.Empty:
        container = self.calling_container()
        await self.control.put_outputs(container, request.outputs, request.released_input_ids)
        return api_pb2.Empty()

    async def ContainerHeartbeat(
        self, request: api_pb2.ContainerHeartbeatRequest, context: Context
    ) -> api_pb2.ContainerHeartbeatResponse:
        container = self.calling_container()
        gone = [i for i in request.running_input_ids if i not in container.held]
        return api_pb2.ContainerHeartbeatResponse(cancelled_input_ids=gone)

    async def ContainerWebReceive(
        self, request: api_pb2.ContainerWebReceiveRequest, context: Context
    ) -> api_pb2.ContainerWebReceiveResponse:
        container = self.calling_container()
        item = container.held.get(request.input_id)
        if item is None:  # only the container running the session may read its messages
            return api_pb2.ContainerWebReceiveResponse(closed=True)
        timeout = min(request.timeout, config.WEB_RECEIVE_POLL)
        messages, closed = await self.control.web_channels.receive(item.call_id, request.after, timeout)
        return api_pb2.ContainerWebReceiveResponse(messages=messages, closed=closed)

    async def TunnelStart(self, request: api_pb2.TunnelStartRequest, context: Context) -> api_pb2.TunnelStartResponse:
        container = self.calling_container()
        definition = self.control._function(container.function_id).definition
        if definition.block_network:  # a tunnel is network access, inbound and out
            raise Invalid("a function with block_network=True cannot forward ports: a tunnel would give it a network")
        if definition.restrict_modal_access:  # the gateway's relay is the platform's
            raise Invalid(f"{definition.name} runs with restrict_modal_access=True: it may not forward ports")
        key = self.control.tunnels.start(container.container_id, request.port)
        return api_pb2.TunnelStartResponse(
            tunnel_key=key, path=f"{TUNNEL_PATH_PREFIX}{key}", host_label=f"{TUNNEL_LABEL_PREFIX}{key}"
        )

    async def TunnelStop(self, request: api_pb2.TunnelStopRequest, context: Context) -> api_pb2.Empty:
        self.control.tunnels.stop(self.calling_container().container_id, request.tunnel_key)
        return api_pb2.Empty()

    async def TunnelNext(self, request: api_pb2.TunnelNextRequest, context: Context) -> api_pb2.TunnelNextResponse:
        container = self.calling_container()
        timeout = min(request.timeout, config.WEB_RECEIVE_POLL)
        requests, closed = await self.control.tunnels.next(container.container_id, request.tunnel_key, timeout)
        return api_pb2.TunnelNextResponse(requests=requests, closed=closed)

    async def TunnelRespond(self, request: api_pb2.TunnelRespondRequest, context: Context) -> api_pb2.Empty:
        self.control.tunnels.respond(self.calling_container().container_id, request)
        return api_pb2.Empty()

    async def ContainerInitFailed(self, request: api_pb2.ContainerInitFailedRequest, context: Context) -> api_pb2.Empty:
        container = self.calling_container()
        self.control.container_init_failed(container, request)
        return api_pb2.Empty()


def _translating(name: str, method: Any, role: Role) -> Any:
    """`method`, called once its caller is checked against `role` and every id in its request
    against the caller's workspace, with the server's errors (errors.py) answered as their
    gRPC status."""
    scoped = role not in (Role.OPERATOR, Role.CONTAINER)  # those name no workspace's ids

    async def admit(self: Service, request: Any, context: Context) -> None:
        principal = await self._authorize(name, role, request, context)
        set_principal(principal)  # each RPC runs in its own task
        if scoped and not principal.operator:  # the operator's token is the installation's (workspaces.py)
            self.scope.check(request, principal)

    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Service, request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                await admit(self, request, context)
                async for response in method(self, request, context):
                    yield response
            except ServerError as exc:
                await context.abort(exc.status, str(exc))

        return stream

    @functools.wraps(method)
    async def unary(self: Service, request: Any, context: Context) -> Any:
        try:
            await admit(self, request, context)
            return await method(self, request, context)
        except ServerError as exc:
            await context.abort(exc.status, str(exc))

    return unary


def _guard_rpcs(cls: type[Service]) -> None:
    """Authentication and error translation in one place: every RPC the service implements (its
    own, ObjectRpcs', SandboxRpcs') checks its caller by ROLES and answers a ServerError (a store
    away, ...) with the error's status. An RPC missing from ROLES fails here, at import."""
    for name, unimplemented in vars(api_pb2_grpc.NanoModalServicer).items():
        method = getattr(cls, name, None)
        if name.startswith("_") or method is None or method is unimplemented:
            continue
        setattr(cls, name, _translating(name, method, ROLES[name]))


_guard_rpcs(Service)
