"""The gRPC entry: each `modal.client.ModalClient/<Method>` call, authenticated and dispatched.

A method this package serves is an `async def <Method>(self, request, call)` of `ModalService`
(a server-streaming one an async generator). Any other method answers UNIMPLEMENTED with its
name, never gRPC's bare "Method not found".
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
from starlette.routing import BaseRoute

from ..blobs import BlobStore
from ..callers import restricted_refusal
from ..control import ControlPlane, Invalid, NotFound
from ..object_service import ObjectPlane
from ..objects import AlreadyExists
from ..rpc_roles import MODAL_INVOKE_ONLY, MODAL_RESTRICTED
from ..sandboxes import SandboxPlane
from ..state import FunctionRuntime
from ..workspaces import MODAL_ID_FIELDS, Principal, Workspaces, WorkspaceScope
from . import protocol
from .auth import Refused, identify, invoke_only_refusal
from .base import BUNDLE_MARKER, Call
from .blobs import blob_routes
from .command_router import CommandRouter, CommandRouterHandler
from .functions import container_env
from .protocol import SERVICE_NAME, Protocol
from .service import ModalService
from .volumes import block_routes
from .volumes_v2 import block_put_routes
from .web import ModalWeb

log = logging.getLogger("nano_modal.server.modal_compat")

_PREFIX = f"/{SERVICE_NAME}/"
_NOT_ACTIVE = "nano-modal: this server is not the active one yet; try again"


def load_protocol() -> tuple[Protocol | None, str]:
    return protocol.load()


def not_served_message(method: str) -> str:
    return f"nano-modal does not serve ModalClient/{method} yet (see docs/MODAL_CLIENT.md)"


class ModalClientHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Registered on the server's gRPC port from the start; serves once `target` is set
    (when this server holds the store lease: main.py), UNAVAILABLE before."""

    def __init__(self, proto: Protocol) -> None:
        self.proto = proto
        self.target: ModalService | None = None
        self.scope: WorkspaceScope | None = None  # the ids a caller may name (workspaces.py)
        self.workspace_token: Callable[[str], Principal | None] = lambda token: None  # Workspaces.find
        self.router = CommandRouterHandler()  # Modal's task command router, on the same port

    def service_names(self) -> tuple[str, ...]:
        return (SERVICE_NAME,)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        full_name: str = handler_call_details.method
        if not full_name.startswith(_PREFIX):
            return None
        name = full_name.removeprefix(_PREFIX)
        method = self.proto.methods.get(name)
        implementation = getattr(ModalService, name, None) if method is not None else None
        if method is None or implementation is None or method.client_streaming:
            return grpc.unary_unary_rpc_method_handler(_refuse(grpc.StatusCode.UNIMPLEMENTED, not_served_message(name)))
        request_type = self.proto.message(method.input_type.name)
        response_type = self.proto.message(method.output_type.name)
        options: dict[str, Any] = {
            "request_deserializer": request_type.FromString,
            "response_serializer": response_type.SerializeToString,
        }
        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._stream(name), **options)
        return grpc.unary_unary_rpc_method_handler(self._unary(name), **options)

    def _begin(self, name: str, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[ModalService, Call]:
        service = self.target
        if service is None:
            raise Refused(grpc.StatusCode.UNAVAILABLE, _NOT_ACTIVE)
        caller = identify(
            context.invocation_metadata() or (), service.admin_token, service.control, self.workspace_token
        )
        if caller.invoke_only and name not in MODAL_INVOKE_ONLY:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, invoke_only_refusal(name))
        if caller.container is not None and name not in MODAL_RESTRICTED:
            definition = service.control._function(caller.container.function_id).definition
            if definition.restrict_modal_access:
                refusal = f"nano-modal: {restricted_refusal(definition.name)} (ModalClient/{name})"
                raise Refused(grpc.StatusCode.PERMISSION_DENIED, refusal)
        if self.scope is not None and not caller.operator:
            # Every id must be the caller's workspace's (an invoke-only pair's: its deployed
            # apps' functions and calls), as on nano-modal's own port: another's is NotFound.
            self.scope.check(request, caller.principal(), MODAL_ID_FIELDS)
        return service, Call(caller, context, name)

    def _unary(self, name: str) -> Callable[[Any, Any], Any]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                service, call = self._begin(name, request, context)
                return await getattr(service, name)(request, call)
            except Refused as exc:
                await context.abort(exc.code, str(exc))
            except NotFound as exc:
                await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            except Invalid as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except AlreadyExists as exc:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))

        return handle

    def _stream(self, name: str) -> Callable[[Any, Any], AsyncIterator[Any]]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                service, call = self._begin(name, request, context)
                async for response in getattr(service, name)(request, call):
                    yield response
            except Refused as exc:
                await context.abort(exc.code, str(exc))
            except NotFound as exc:
                await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            except Invalid as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except AlreadyExists as exc:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))

        return handle


def _refuse(code: grpc.StatusCode, message: str) -> Callable[[bytes, Any], Any]:
    async def refuse(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        log.info("%s", message)
        await context.abort(code, message)
        raise AssertionError("unreachable")

    return refuse


def attach(
    handler: ModalClientHandler,
    control: ControlPlane,
    blobs: BlobStore,
    admin_token: str,
    objects: ObjectPlane,
    web_base_url: str,
    sandboxes: SandboxPlane,
    router_url: str,
    scope: WorkspaceScope | None = None,
    web_domain: str = "",
    workspaces: Workspaces | None = None,
) -> tuple[list[BaseRoute], ModalWeb]:
    """This server is the active one: serve Modal's methods from here, and start the containers
    of Modal-defined functions with Modal's entrypoint. Returns the HTTP gateway's routes for
    Modal's blob uploads and downloads and its volume block downloads, and its side of Modal's
    web endpoints. `sandboxes`: nano-modal's sandboxes, which Modal's are; `router_url`: this
    server's gRPC address, where Modal's client reaches the task command router.
    `scope`: the ids a caller may name (workspaces.py); `web_domain`: the server's
    --web-domain, under which web endpoints get hosts of their own; `workspaces`: whose
    tokens are the secrets of workspace pairs (auth.py)."""
    service = ModalService(
        control, blobs, admin_token, handler.proto, objects, web_base_url, sandboxes, router_url, web_domain
    )
    handler.router.admin_token = admin_token
    handler.router.target = CommandRouter(sandboxes)
    handler.target = service
    handler.scope = scope
    if workspaces is not None:
        handler.workspace_token = workspaces.find

    def env(fn: FunctionRuntime) -> dict[str, str]:
        if fn.definition.module_name != BUNDLE_MARKER:
            return {}
        siblings = control.app_functions(fn.app_id)
        return container_env(fn, {f.name: [f.function_id, f.definition.source_blob_id] for f in siblings})

    control.container_env_hooks.append(env)
    return (
        blob_routes(blobs, admin_token)
        + block_routes(objects.volumes.blobs, admin_token)
        + block_put_routes(blobs, admin_token),
        service.web,
    )
