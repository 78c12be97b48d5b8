"""The HTTP gateway: web endpoints get stable URLs and scale like any function.

    http://HOST:PORT/<app name, or app id for ephemeral apps>/<function name>/<path>

Each request becomes one input of the function (a streaming call). The container runs
the user's ASGI/WSGI/FastAPI code on it and streams back the response start and body
chunks as generator items, which are relayed to the HTTP client as they arrive.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..proto import api_pb2
from ..serialization import serialize
from .blobs import BlobStore
from .control import ControlPlane, Invalid, NotFound
from .deployments import Deployments
from .state import FunctionRuntime

log = logging.getLogger("nano_modal.server")
WEB_METHOD = "__web__"  # method_name of inputs that carry an HTTP request
RESPONSE_TIMEOUT = 150.0  # seconds to wait for a container to start answering
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def parse_class_parameters(definition: api_pb2.FunctionDefinition, query: dict[str, str]) -> dict[str, Any]:
    """A class endpoint's instance parameters, typed, from the query string (one pool per set)."""
    params: dict[str, Any] = {}
    for spec in definition.class_parameters:
        if spec.name not in query:
            if spec.required:
                raise Invalid(f"missing query parameter {spec.name!r} ({spec.type})")
            continue
        raw = query[spec.name]
        try:
            if spec.type == "int":
                params[spec.name] = int(raw)
            elif spec.type == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                params[spec.name] = raw.lower() in ("true", "1")
            elif spec.type == "bytes":
                params[spec.name] = raw.encode()
            else:
                params[spec.name] = raw
        except ValueError:
            raise Invalid(f"query parameter {spec.name!r} must be {spec.type}, got {raw!r}") from None
    return params


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Gateway:
    def __init__(self, control: ControlPlane, deployments: Deployments, blobs: BlobStore) -> None:
        self.control = control
        self.deployments = deployments
        self.blobs = blobs
        self.app = Starlette(
            routes=[
                Route("/{app}/{function}", self.handle, methods=_METHODS),
                Route("/{app}/{function}/{path:path}", self.handle, methods=_METHODS),
            ]
        )

    def _target(self, app_ref: str, name: str, query: dict[str, str]) -> tuple[FunctionRuntime, str]:
        """The function to call and the input's method name, for /<app>/<name>/."""
        if "." not in name:
            return self._function(app_ref, name), WEB_METHOD
        cls_name, method = name.split(".", 1)
        cls = self._function(app_ref, cls_name, web_required=False)
        if not any(m.name == method and m.web.kind for m in cls.definition.methods):
            raise NotFound(f"class {cls_name} has no web endpoint method {method!r}")
        params = parse_class_parameters(cls.definition, query)
        options = api_pb2.FunctionDefinition()
        options.CopyFrom(cls.definition)
        function_id = (
            self.control.bind_function(cls.function_id, serialize(tuple(sorted(params.items()))), options)
            if params
            else cls.function_id
        )
        return self.control._function(function_id), f"{WEB_METHOD}.{method}"

    def _function(self, app_ref: str, name: str, web_required: bool = True) -> FunctionRuntime:
        if app_ref.startswith("ap-"):
            app = self.control.app(app_ref)
            if not app.live:
                raise NotFound(f"app {app_ref} is stopped")
        else:
            try:
                app = self.deployments.lookup(app_ref)
            except NotFound:
                # `nano-modal serve` URLs: the newest live run of an ephemeral app with that name.
                runs = [a for a in self.control.apps.values() if a.name == app_ref and a.live]
                if not runs:
                    raise
                app = runs[-1]
        fn = self.control.function_by_name(app.app_id, name)
        if fn is None or (web_required and not fn.definition.web.kind):
            raise NotFound(f"app {app.name} has no web endpoint {name!r}")
        return fn

    def _authorized(self, request: Request) -> bool:
        key = request.headers.get("modal-key", "")
        secret = request.headers.get("modal-secret", "")
        stored = self.control.store.proxy_token_hash(key) if key else None
        return stored is not None and hmac.compare_digest(stored, hash_secret(secret))

    async def handle(self, request: Request) -> Response:
        try:
            fn, method_name = self._target(
                request.path_params["app"], request.path_params["function"], dict(request.query_params)
            )
        except NotFound as exc:
            return PlainTextResponse(f"404 Not Found: {exc}\n", status_code=404)
        except Invalid as exc:
            return PlainTextResponse(f"400 Bad Request: {exc}\n", status_code=400)
        if fn.definition.web.requires_proxy_auth and not self._authorized(request):
            return PlainTextResponse("401 Unauthorized: missing or invalid Modal-Key / Modal-Secret\n", 401)
        path = "/" + request.path_params.get("path", "")
        message = {
            "method": request.method,
            "path": path,
            "query_string": request.url.query.encode(),
            "headers": [(k.encode(), v.encode()) for k, v in request.headers.items()],
            "body": await request.body(),
            "client": request.client.host if request.client else "",
        }
        try:
            call = self.control.start_call(
                fn.function_id,
                api_pb2.CALL_KIND_GENERATOR,
                [
                    api_pb2.FunctionInput(
                        idx=0, args=self._payload(serialize(((message,), {}))), method_name=method_name
                    )
                ],
                True,
            )
        except (Invalid, NotFound) as exc:
            return PlainTextResponse(f"503 Service Unavailable: {exc}\n", status_code=503)
        parts = self._parts(call.call_id)
        try:
            start = await anext(parts)
        except StopAsyncIteration:
            return PlainTextResponse("502 Bad Gateway: the endpoint sent no response\n", status_code=502)
        except _CallFailed as exc:
            return PlainTextResponse(f"{exc.status} {exc}\n", status_code=exc.status)
        if not isinstance(start, dict):
            return PlainTextResponse("502 Bad Gateway: malformed response from the endpoint\n", status_code=502)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
        return StreamingResponse(
            self._body(parts, call.call_id), status_code=int(start.get("status", 200)), headers=dict(headers)
        )

    def _payload(self, data: bytes) -> api_pb2.Payload:
        from .. import config

        if len(data) <= config.INLINE_PAYLOAD_LIMIT:
            return api_pb2.Payload(data=data)
        blob_id = hashlib.sha256(data).hexdigest()
        self.blobs.put(blob_id, [data])
        return api_pb2.Payload(blob_id=blob_id)

    async def _parts(self, call_id: str) -> AsyncIterator[Any]:
        cursor = 0
        while True:
            rows, call = await self.control.wait_outputs(call_id, cursor, 100, RESPONSE_TIMEOUT)
            if not rows and not call.done:
                raise _CallFailed(504, "Gateway Timeout: the endpoint did not answer in time")
            for row in rows:
                cursor = row.cursor
                if row.status == api_pb2.OUTPUT_STATUS_GENERATOR_ITEM:
                    data = self.blobs.read(row.data_blob) if row.data_blob else row.data
                    yield pickle.loads(data)
                elif row.status != api_pb2.OUTPUT_STATUS_SUCCESS:
                    log.warning("web endpoint call %s failed: %s", call_id, row.exception_repr)
                    status = 504 if row.status == api_pb2.OUTPUT_STATUS_TIMEOUT else 500
                    raise _CallFailed(status, "Internal Server Error" if status == 500 else "Gateway Timeout")
                else:
                    return
            if call.done and not rows:
                return

    async def _body(self, parts: AsyncIterator[Any], call_id: str) -> AsyncIterator[bytes]:
        finished = False
        try:
            async for part in parts:
                if isinstance(part, bytes | bytearray):
                    yield bytes(part)
            finished = True
        except _CallFailed:
            return  # the status line is already sent; end the body
        finally:
            if not finished:
                self.control.cancel_call(call_id)  # the HTTP client went away


class _CallFailed(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
