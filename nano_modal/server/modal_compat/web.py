"""Web endpoints of functions defined with the real client (`@modal.fastapi_endpoint()`,
`@modal.asgi_app()`, `@modal.wsgi_app()`, `@modal.web_server()`).

The `webhook_config` of Modal's FunctionCreate becomes the nano-modal function's web endpoint
(`definition.web`), so nano-modal's HTTP gateway (server/gateway.py) routes requests to it,
at the URL the client is told (`handle_metadata.web_url`, which `modal deploy` prints).

Each request reaches Modal's entrypoint as in Modal's cloud: one input whose argument is the
ASGI scope; its body is the call's `data_in` stream (FunctionCallGetDataIn, Modal's `Asgi`
messages, DATA_FORMAT_ASGI); the app's ASGI messages come back as the call's `data_out`
items (FunctionCallPutDataOut), which the gateway relays to the HTTP client. The server only
parses protobuf messages here: nothing a container sends is unpickled.

A WebSocket session is one such input too, its scope of type "websocket": the data_in stream
is `websocket.connect` (which Modal's entrypoint must read within 5 s of asking, or it closes
the session), then what the client sends, which the gateway appends to the call's web channel
(server/web_channels.py, as for nano-modal's own endpoints) already as Modal's `Asgi` messages;
the app's accept, sends and close come back on data_out.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ... import config
from ..._web_host import endpoint_url
from ...proto import api_pb2 as npb
from ..blobs import BlobStore
from ..control import ControlPlane, NotFound
from ..foreign_web import LastBody
from ..state import FunctionRuntime
from ..web_routes import MODAL_CLASS_SUFFIX
from .base import BUNDLE_MARKER, Call, ServiceBase, bundle_function
from .class_params import query_parameters

DATA_IN_WAIT = 50.0  # seconds one wait for the call's end lasts inside a FunctionCallGetDataIn stream
# data_in index of a WebSocket session's `websocket.connect`; the channel's n-th client message
# (1-based) is index n + CONNECT_INDEX.
CONNECT_INDEX = 1
WEBSOCKET_NORMAL_CLOSURE = 1000  # RFC 6455's code for a close that names none, as ASGI defaults it
WEBSOCKET_GOING_AWAY = 1001  # RFC 6455: the client left without a close the app could read
_KINDS = {1: "asgi", 2: "fastapi", 3: "wsgi", 4: "web_server"}  # Modal's WebhookType -> a nano-modal kind


def method_endpoints(function: Any) -> list[npb.MethodDefinition]:
    """The web endpoints among a class's methods (`@modal.fastapi_endpoint()`... on methods of
    an `@app.cls()`), as the nano-modal methods the gateway routes `/<app>/<Class>.<method>/` to."""
    methods = []
    for name, method in function.method_definitions.items():
        web = web_endpoint(method.webhook_config)
        if web is not None:
            methods.append(npb.MethodDefinition(name=name, web=web))
    return methods


def web_endpoint(webhook_config: Any) -> npb.WebEndpoint | None:
    """The nano-modal web endpoint of a Modal function's webhook_config (None: not a web function)."""
    kind = _KINDS.get(int(webhook_config.type))
    if kind is None:
        return None
    return npb.WebEndpoint(
        kind=kind,
        method=webhook_config.method,
        requires_proxy_auth=webhook_config.requires_proxy_auth,
        docs=webhook_config.web_endpoint_docs,
        label=webhook_config.requested_suffix,  # `label=`: the endpoint's host under the web domain
    )


class ModalWeb:
    """The gateway's side: requests to Modal-defined functions as Modal's ASGI messages."""

    def __init__(self, pb: Any, control: ControlPlane, blobs: BlobStore) -> None:
        self.pb = pb
        self.control = control
        self.blobs = blobs
        # Call id -> its request body (Modal's data_in), from the call's start until the call ends.
        self.bodies: dict[str, Any] = {}
        # Call ids of WebSocket sessions (their data_in is the gateway's web channel) -> whether
        # the container was told the client is gone.
        self.websockets: dict[str, bool] = {}
        # Bundle id (a sha256: its content never changes) -> Modal's Function message in it,
        # read once per class for the parameters of its endpoints' requests.
        self.class_functions: dict[str, Any] = {}

    def owns(self, fn: FunctionRuntime) -> bool:
        return fn.definition.module_name == BUNDLE_MARKER

    def class_parameters(self, fn: FunctionRuntime, query: Mapping[str, str]) -> bytes | None:
        """The instance of a parameterized class a request's query names (class_params.py)."""
        bundle_id = fn.definition.source_blob_id
        function = self.class_functions.get(bundle_id)
        if function is None:
            function = self.class_functions[bundle_id] = bundle_function(self.pb, self.blobs, bundle_id)
        return query_parameters(self.pb, function, query)

    def request_input(self, message: dict[str, Any], method_name: str) -> npb.FunctionInput:
        """The call's input: the request's ASGI scope as the argument of Modal's web function
        (a pickle: Modal's entrypoint unpickles every input's arguments; the server only writes it)."""
        scope: dict[str, Any] = {
            "type": message["type"],
            "http_version": "1.1",
            "path": message["path"],
            "query_string": message["query_string"],
            "headers": [tuple(pair) for pair in message["headers"]],
            "client": (message.get("client") or "", 0),
        }
        if message["type"] == "websocket":
            scope |= {"scheme": "ws", "subprotocols": list(message.get("subprotocols") or [])}
        else:
            scope |= {"method": message["method"], "scheme": "http", "extensions": {"http.response.trailers": {}}}
        modal_input = self.pb.FunctionInput(
            args=pickle.dumps(((scope,), {}), protocol=4),
            data_format=self.pb.DATA_FORMAT_PICKLE,
            # The gateway's "__web__" ("__web__.<method>" of a class): Modal's "" (or "<method>").
            method_name=method_name.removeprefix(config.WEB_METHOD).removeprefix("."),
        )
        return npb.FunctionInput(idx=0, args=npb.Payload(data=modal_input.SerializeToString()), method_name=method_name)

    def started(self, call_id: str, message: dict[str, Any]) -> None:
        self._forget_ended()
        if message["type"] == "websocket":
            self.websockets[call_id] = False
            return
        body = self.pb.Asgi(http_request=self.pb.Asgi.HttpRequest(body=message["body"], more_body=False))
        self.bodies[call_id] = self.pb.DataChunk(
            data_format=self.pb.DATA_FORMAT_ASGI, data=body.SerializeToString(), index=1
        )

    def _forget_ended(self) -> None:
        """Bodies of calls that ended without their container reading them (it failed to start...)."""
        for call_id in [*self.bodies, *self.websockets]:
            try:
                done = self.control.get_call(call_id).done
            except NotFound:
                done = True
            if done:
                self.bodies.pop(call_id, None)
                self.websockets.pop(call_id, None)

    def client_message(self, message: Mapping[str, Any]) -> bytes:
        """A WebSocket client's message (`websocket.receive` or `websocket.disconnect`) as Modal's
        `Asgi` message, which the container reads on data_in."""
        if message["type"] == "websocket.disconnect":
            code = message.get("code", WEBSOCKET_NORMAL_CLOSURE)
            asgi = self.pb.Asgi(websocket_disconnect=self.pb.Asgi.WebsocketDisconnect(code=code))
        else:
            asgi = self.pb.Asgi(
                websocket_receive=self.pb.Asgi.WebsocketReceive(bytes=message.get("bytes"), text=message.get("text"))
            )
        data: bytes = asgi.SerializeToString()
        return data

    def data_in_chunk(self, asgi: Any, index: int) -> Any:
        """One item of a call's data_in stream."""
        return self.pb.DataChunk(data_format=self.pb.DATA_FORMAT_ASGI, data=asgi.SerializeToString(), index=index)

    def part(self, data: bytes) -> Any:
        """One `data_out` item as the gateway relays it: the response start (a dict), a body
        chunk (bytes), or b"" for anything else (trailers...)."""
        chunk = self.pb.DataChunk.FromString(data)
        raw = self.blobs.read(chunk.data_blob_id.removeprefix("bl-")) if chunk.data_blob_id else chunk.data
        if chunk.data_format != self.pb.DATA_FORMAT_ASGI:
            return b""
        message = self.pb.Asgi.FromString(raw)
        kind = message.WhichOneof("type")
        if kind == "http_response_start":
            flat = list(message.http_response_start.headers)
            return {
                "type": "http.response.start",
                "status": message.http_response_start.status,
                "headers": list(zip(flat[::2], flat[1::2], strict=True)),
            }
        if kind == "http_response_body":
            body = message.http_response_body
            return body.body if body.more_body else LastBody(body.body)
        return _websocket_part(message, kind)


def _websocket_part(message: Any, kind: str | None) -> Any:
    """A WebSocket app's message as the gateway's dict (b"": one it does not relay)."""
    if kind == "websocket_accept":
        accept = message.websocket_accept
        flat = list(accept.headers)
        return {
            "type": "websocket.accept",
            "subprotocol": accept.subprotocol if accept.HasField("subprotocol") else None,
            "headers": list(zip(flat[::2], flat[1::2], strict=True)),
        }
    if kind == "websocket_send":
        send = message.websocket_send
        if send.HasField("bytes"):
            return {"type": "websocket.send", "bytes": send.bytes}
        return {"type": "websocket.send", "text": send.text}
    if kind == "websocket_close":
        close = message.websocket_close
        code = close.code if close.HasField("code") else WEBSOCKET_NORMAL_CLOSURE
        return {"type": "websocket.close", "code": code, "reason": close.reason}
    return b""


class WebRpcs(ServiceBase):
    web: ModalWeb
    web_base_url: str
    web_domain: str  # the server's --web-domain ("": path-form URLs only)

    def web_url(self, app_id: str, function: Any) -> str:
        """Where the gateway answers for a web function ("": not one)."""
        web = web_endpoint(function.webhook_config)
        if web is None:
            return ""
        return self._endpoint_url(app_id, function.function_name, web.label)

    def _endpoint_url(self, app_id: str, endpoint: str, label: str) -> str:
        """By the deployed app's name, or by the app's id for a `modal run`/`modal serve` app; a
        class's method is the endpoint `<Class>.<method>`. Its own host when the server has a web
        domain (`<label>` or `<app>-<endpoint>`, _web_host.py), else its path on the gateway."""
        app = self.control.app(app_id)
        app_ref = app.app_id if app.ephemeral or not app.name else app.name
        return endpoint_url(self.web_base_url, self.web_domain, app.workspace, app_ref, endpoint, label)

    def add_web_urls(self, app_id: str, function: Any, metadata: Any) -> None:
        """The URLs of a function's web endpoints where the client reads them: its handle
        metadata (`get_web_url()`, of the function or of each method of a class) and, for a
        class's methods, the `Function` message `modal deploy` prints them from."""
        metadata.web_url = self.web_url(app_id, function)
        class_name = function.function_name.removesuffix(MODAL_CLASS_SUFFIX)
        for name, method in function.method_definitions.items():
            web = web_endpoint(method.webhook_config)
            if web is None:
                continue
            method.web_url = self._endpoint_url(app_id, f"{class_name}.{name}", web.label)
            if name in metadata.method_handle_metadata:
                metadata.method_handle_metadata[name].web_url = method.web_url

    async def FunctionCallGetDataIn(self, request: Any, call: Call) -> AsyncIterator[Any]:
        """A web request's body, then open until the call ends (Modal's entrypoint asks again
        at once when the stream closes)."""
        container = call.container()
        call_id = request.function_call_id
        if call_id in self.web.websockets:
            if not any(item.call_id == call_id for item in container.held.values()):
                return  # only the container running the session may read (and acknowledge) its messages
            async for chunk in self._websocket_data_in(call_id, request.last_index):
                yield chunk
        body = self.web.bodies.get(call_id)  # kept until the call ends: a retried input reads it again
        if body is not None and body.index > request.last_index:
            yield body
        cursor = 0
        while True:
            try:
                rows, started = await self.control.wait_outputs(call_id, cursor, 1000, DATA_IN_WAIT)
            except NotFound:
                started = None
            if started is None or started.done:
                self.web.bodies.pop(call_id, None)
                return
            cursor = rows[-1].cursor if rows else cursor
            await asyncio.sleep(0)

    async def _websocket_data_in(self, call_id: str, last_index: int) -> AsyncIterator[Any]:
        """A WebSocket session's data_in after `last_index`: `websocket.connect`, then the
        client's messages as the gateway relays them (reading past one acknowledges it), until
        the client is gone; then a `websocket.disconnect` if the client's own did not get through
        (the gateway drops the channel when the client leaves)."""
        if last_index < CONNECT_INDEX:
            yield self.web.data_in_chunk(self.pb.Asgi(websocket_connect=self.pb.Asgi.WebsocketConnect()), CONNECT_INDEX)
        after = max(0, last_index - CONNECT_INDEX)
        while True:
            messages, closed = await self.control.web_channels.receive(call_id, after, DATA_IN_WAIT)
            for message in messages:
                after += 1
                asgi = self.pb.Asgi.FromString(message)
                if asgi.WhichOneof("type") == "websocket_disconnect":
                    self.web.websockets[call_id] = True
                yield self.web.data_in_chunk(asgi, after + CONNECT_INDEX)
            if closed:
                break
            if not messages and self.control.get_call(call_id).done:
                return
        if call_id in self.web.websockets and not self.web.websockets[call_id]:
            self.web.websockets[call_id] = True
            gone = self.pb.Asgi(websocket_disconnect=self.pb.Asgi.WebsocketDisconnect(code=WEBSOCKET_GOING_AWAY))
            yield self.web.data_in_chunk(gone, after + 1 + CONNECT_INDEX)
