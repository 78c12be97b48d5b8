"""The HTTP gateway: web endpoints get stable URLs and scale like any function.

    http://<label>.<web domain>:PORT/<path>     with `--web-domain`: the endpoint owns the host
    http://HOST:PORT/<app name, or app id for ephemeral apps>/<function name>/<path>

Which function a request is for is web_routes.py's job. The host form routes by the Host
header (label rule in `_web_host.py`); the path form is the fallback for any other host and
passes its prefix to the app as the ASGI `root_path`, so that an app building URLs from
`request.url` gets them right in both forms.

Each request becomes one input of the function (a streaming call). The container runs
the user's ASGI/WSGI/FastAPI code on it and streams back the response start and body
chunks as generator items, which are relayed to the HTTP client as they arrive.

A WebSocket session is one input too: the container's ASGI messages (accept, send, close)
come back as generator items, and the client's messages go to the container through
`control.web_channels` (pickled, or a ForeignWeb's encoding for a modal-client function).

What a container sends is unpickled here, in the server, so only plain data is accepted
(`serialization.loads_plain`): a container must not be able to run code in the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import pickle
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute, request_response, websocket_session
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import config
from .._session_token import SESSION_HEADER
from .._web_host import label_of_host
from ..proto import api_pb2
from ..serialization import loads_plain, serialize
from .blobs import BlobStore
from .control import ControlPlane, Invalid, NotFound
from .deployments import Deployments
from .foreign_web import ForeignWeb, LastBody
from .http_limits import BadResponseHead, checked_headers, request_body, response_head
from .tunnels import PATH_PREFIX as TUNNEL_PATH_PREFIX
from .tunnels import relay_to_tunnel, tunnel_key_of_label
from .web_routes import TooManyInstances, WebRoutes
from .web_sessions import NoSession, ended, session_ended, session_function

log = logging.getLogger("nano_modal.server")
WEB_METHOD = config.WEB_METHOD
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# The platform's credentials, for the gateway only: never forwarded into a container (a Server
# session's token included: another container's code could reuse it).
PLATFORM_HEADERS = frozenset({"modal-key", "modal-secret", SESSION_HEADER})
LOGGED_ERROR_CHARS = 500  # of a container's error text in the server's log: the container chose its length
# Bytes a WebSocket client may send that the app has not read yet: a client writing faster
# than a (or into a deaf) app would otherwise fill the server's memory.
MAX_WEBSOCKET_BACKLOG = 16 * 1024 * 1024


class Gateway:
    def __init__(
        self,
        control: ControlPlane,
        deployments: Deployments,
        blobs: BlobStore,
        extra_routes: Sequence[BaseRoute] = (),  # matched first: the dashboard's /_/ pages
        admin_token: str = "",  # stripped from requests to endpoints, as Modal-Key/Modal-Secret are
        web_domain: str = "",  # endpoints also answer at <label>.<web_domain> ("": path form only)
        foreign_web: ForeignWeb | None = None,  # functions defined with the modal client (modal_compat)
    ) -> None:
        self.foreign_web = foreign_web
        self.admin_token = admin_token
        self.control = control
        self.deployments = deployments
        self.blobs = blobs
        self.web_domain = web_domain
        self.routes = WebRoutes(control, deployments)
        self._host_http = request_response(self.handle)
        self._host_tunnel = request_response(self.handle_tunnel)
        self._host_websocket = websocket_session(self.handle_websocket)
        self.by_path = Starlette(
            routes=[
                *extra_routes,
                Route(TUNNEL_PATH_PREFIX + "{key}", self.handle_tunnel, methods=_METHODS),
                Route(TUNNEL_PATH_PREFIX + "{key}/{path:path}", self.handle_tunnel, methods=_METHODS),
                Route("/{app}/{function}", self.handle, methods=_METHODS),
                Route("/{app}/{function}/{path:path}", self.handle, methods=_METHODS),
                WebSocketRoute("/{app}/{function}", self.handle_websocket),
                WebSocketRoute("/{app}/{function}/{path:path}", self.handle_websocket),
            ]
        )

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: a request whose Host names an endpoint under the web domain goes to that
        endpoint with its whole path; any other goes through the path routes."""
        if scope["type"] in ("http", "websocket") and self.web_domain:
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            label = label_of_host(host, self.web_domain)
            key = tunnel_key_of_label(label or "")
            if key and scope["type"] == "http" and self.control.tunnels.exists(key):  # modal.forward, host form
                path_params = {"key": key, "path": scope["path"].lstrip("/")}
                await self._host_tunnel({**scope, "path_params": path_params, "root_path": ""}, receive, send)
                return
            if label is not None:
                target = self.routes.target_of_label(label)
                if target is None:
                    await PlainTextResponse(f"404 Not Found: no web endpoint is called {label!r}\n", 404)(
                        scope, receive, send
                    )
                    return
                app_ref, name = target
                path_params = {"app": app_ref, "function": name, "path": scope["path"].lstrip("/")}
                scope = {**scope, "path_params": path_params, "root_path": "", "nano_modal_host_form": True}
                handler = self._host_http if scope["type"] == "http" else self._host_websocket
                await handler(scope, receive, send)
                return
        await self.by_path(scope, receive, send)

    def _resolve(self, connection: HTTPConnection) -> tuple[str, str] | Response:
        """Route and check proxy auth before anything else is read: the function id to call
        and the input's method name, or the error response."""
        params = connection.path_params
        try:
            route = self.routes.route(params["app"], params["function"])
            authorized = self.routes.authorized(connection, route.fn)
            if route.web.requires_proxy_auth and not authorized:
                return PlainTextResponse("401 Unauthorized: missing or invalid Modal-Key / Modal-Secret\n", 401)
            if route.web.sessioned:
                header = connection.headers.get(SESSION_HEADER, "")
                return session_function(self.control, route.fn, header), route.method_name
            foreign = self._foreign(route.fn.function_id)
            bound = self.routes.bind(route, dict(connection.query_params), authorized, foreign)
            return bound, route.method_name
        except NoSession as exc:
            return PlainTextResponse(f"401 Unauthorized: {exc}\n", status_code=401)
        except NotFound as exc:
            return PlainTextResponse(f"404 Not Found: {exc}\n", status_code=404)
        except Invalid as exc:
            return PlainTextResponse(f"400 Bad Request: {exc}\n", status_code=400)
        except TooManyInstances as exc:
            return PlainTextResponse(f"429 Too Many Requests: {exc}\n", status_code=429)

    def _forwarded_headers(self, connection: HTTPConnection) -> list[tuple[bytes, bytes]]:
        """The request's headers minus the platform's credentials: the container is not to
        see (and reuse) a proxy token or the admin token."""
        kept = []
        for name, value in connection.headers.items():
            if name in PLATFORM_HEADERS:
                continue
            if name == "authorization" and self._is_admin_bearer(value):
                continue
            kept.append((name.encode("latin-1"), value.encode("latin-1")))
        return kept

    def _is_admin_bearer(self, value: str) -> bool:
        bearer = value.removeprefix("Bearer ").strip()
        return bool(self.admin_token) and hmac.compare_digest(bearer.encode(), self.admin_token.encode())

    def _start(self, connection: HTTPConnection, target: tuple[str, str], message: dict[str, Any]) -> str | Response:
        """Start the call: its id, or the error response."""
        function_id, method_name = target
        params = connection.path_params
        host_form = connection.scope.get("nano_modal_host_form", False)
        message |= {
            "path": "/" + params.get("path", ""),
            # The path form's prefix, which the app's own URLs (request.url, url_for) must keep.
            "root_path": "" if host_form else f"/{params['app']}/{params['function']}",
            "query_string": connection.url.query.encode(),
            "headers": self._forwarded_headers(connection),
            "client": connection.client.host if connection.client else "",
        }
        fn = self.control.functions.get(function_id)
        if fn is not None and fn.definition.web.sessioned and session_ended(self.control, function_id):
            # (Checked again: it may have ended while the body was read, after _resolve.)
            return PlainTextResponse(f"404 Not Found: {ended(function_id)}\n", status_code=404)
        foreign = self._foreign(function_id)
        try:
            if foreign is not None:
                request_input = foreign.request_input(message, method_name)
            else:
                args = self._payload(serialize(((message,), {})))
                request_input = api_pb2.FunctionInput(idx=0, args=args, method_name=method_name)
            call = self.control.start_call(function_id, api_pb2.CALL_KIND_GENERATOR, [request_input], True)
        except (Invalid, NotFound) as exc:
            return PlainTextResponse(f"503 Service Unavailable: {exc}\n", status_code=503)
        if foreign is not None:
            foreign.started(call.call_id, message)
        return call.call_id

    def _foreign(self, function_id: str) -> ForeignWeb | None:
        fn = self.control.functions.get(function_id)
        owned = self.foreign_web is not None and fn is not None and self.foreign_web.owns(fn)
        return self.foreign_web if owned else None

    async def handle_tunnel(self, request: Request) -> Response:
        """A request to a container's forwarded port (tunnels.py): relayed whole, answered whole."""
        return await relay_to_tunnel(self.control.tunnels, request, self._forwarded_headers(request))

    async def handle(self, request: Request) -> Response:
        target = self._resolve(request)
        if isinstance(target, Response):
            return target
        answered_by: list[str] = []  # the container that sent the response head, once it has
        response = await self._answer(request, target, answered_by)
        self.control.web_requests.record(target[0], response.status_code, answered_by[0] if answered_by else "")
        return response

    async def _answer(self, request: Request, target: tuple[str, str], answered_by: list[str]) -> Response:
        body = await request_body(request)
        if isinstance(body, Response):
            return body
        opened = self._start(request, target, {"type": "http", "method": request.method, "body": body})
        if isinstance(opened, Response):
            return opened
        parts = self._parts(opened, answered_by=answered_by)
        answered = False
        try:
            start = await self._first_part(request, parts)
            status, headers = response_head(start)
            answered = True
        except StopAsyncIteration:
            return PlainTextResponse("502 Bad Gateway: the endpoint sent no response\n", status_code=502)
        except _CallFailed as exc:
            return PlainTextResponse(f"{exc.status} {exc}\n", status_code=exc.status)
        except BadResponseHead as exc:
            log.warning("web endpoint call %s sent a bad response head: %s", opened, exc)
            return PlainTextResponse(f"502 Bad Gateway: {exc}\n", status_code=502)
        except _ClientGone:
            return PlainTextResponse("499 Client Closed Request\n", status_code=499)  # read by no one
        finally:
            if not answered:  # a 504, a client gone: the input must not keep its container busy
                self.control.cancel_call(opened)
        response = StreamingResponse(self._body(parts, opened, _content_length(headers)), status_code=status)
        response.raw_headers = headers  # keeps repeated ones
        return response

    @staticmethod
    async def _first_part(request: Request, parts: AsyncIterator[Any]) -> Any:
        """The response head; a client that leaves meanwhile ends the wait (`_ClientGone`)."""
        head = asyncio.ensure_future(anext(parts))
        try:
            while not (await asyncio.wait({head}, timeout=config.WEB_DISCONNECT_POLL))[0]:
                if await request.is_disconnected():
                    raise _ClientGone
            return head.result()
        finally:
            head.cancel()

    async def handle_websocket(self, ws: WebSocket) -> None:
        """Relay one WebSocket session between the client and the container's ASGI app."""
        subprotocols = list(ws.scope.get("subprotocols", []))
        target = self._resolve(ws)
        if isinstance(target, Response):
            await ws.send_denial_response(target)
            return
        opened = self._start(ws, target, {"type": "websocket", "subprotocols": subprotocols})
        if isinstance(opened, Response):
            await ws.send_denial_response(opened)
            return
        call_id = opened
        self.control.web_channels.open(call_id)
        from_client: asyncio.Task[None] | None = None
        try:
            async for part in self._parts(call_id, idle_timeout=None):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "websocket.accept" and from_client is None:
                    subprotocol = part.get("subprotocol")
                    headers = checked_headers(part.get("headers") or [])
                    await ws.accept(subprotocol=subprotocol if isinstance(subprotocol, str) else None, headers=headers)
                    from_client = asyncio.create_task(self._from_client(ws, call_id))
                elif kind == "websocket.send" and from_client is not None:
                    if part.get("bytes") is not None:
                        await ws.send_bytes(part["bytes"])
                    else:
                        await ws.send_text(part.get("text") or "")
                elif kind == "websocket.close":
                    await ws.close(code=int(part.get("code", 1000)), reason=str(part.get("reason") or "")[:120])
                    return
            await ws.close()  # the app returned: end the session normally (or refuse it: 403)
        except _CallFailed as exc:
            await ws.close(code=1011, reason=str(exc)[:120])
        except BadResponseHead as exc:
            log.warning("web endpoint call %s sent a bad WebSocket accept: %s", call_id, exc)
            await ws.close(code=1011, reason="Bad Gateway")
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away while we were sending
        finally:
            if from_client is not None:
                from_client.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await from_client
            self.control.web_channels.close(call_id)
            if not self.control.get_call(call_id).done:
                self.control.cancel_call(call_id)

    async def _from_client(self, ws: WebSocket, call_id: str) -> None:
        foreign = self._foreign(self.control.get_call(call_id).function_id)
        encode = pickle.dumps if foreign is None else foreign.client_message  # as the container reads them
        while True:
            if self.control.web_channels.pending_bytes(call_id) > MAX_WEBSOCKET_BACKLOG:
                # The app does not read what the client sends: hold no more of it.
                log.warning(
                    "web endpoint call %s: the app left %d bytes unread; closing", call_id, MAX_WEBSOCKET_BACKLOG
                )
                self.control.web_channels.close(call_id)
                await ws.close(code=1013, reason="the endpoint is not reading")
                return
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                message = {"type": "websocket.disconnect", "code": message.get("code", 1000)}
                self.control.web_channels.put(call_id, encode(message))
                self.control.web_channels.close(call_id)
                return
            self.control.web_channels.put(call_id, encode(message))

    def _payload(self, data: bytes) -> api_pb2.Payload:
        if len(data) <= config.INLINE_PAYLOAD_LIMIT:
            return api_pb2.Payload(data=data)
        blob_id = hashlib.sha256(data).hexdigest()
        self.blobs.put(blob_id, [data])
        return api_pb2.Payload(blob_id=blob_id)

    async def _parts(
        self,
        call_id: str,
        idle_timeout: float | None = config.WEB_RESPONSE_TIMEOUT,
        answered_by: list[str] | None = None,
    ) -> AsyncIterator[Any]:
        """The call's generator items as they come; `idle_timeout=None` waits as long as the call lives.
        `answered_by` gets the id of the container that sent the first."""
        foreign = self._foreign(self.control.get_call(call_id).function_id)
        cursor = 0
        while True:
            wait = idle_timeout if idle_timeout is not None else config.WEB_RESPONSE_TIMEOUT
            rows, call = await self.control.wait_outputs(call_id, cursor, 100, wait)
            if not rows and not call.done:
                if idle_timeout is None:
                    continue
                raise _CallFailed(504, "Gateway Timeout: the endpoint did not answer in time")
            for row in rows:
                cursor = row.cursor
                if answered_by is not None and not answered_by and row.container_id:
                    answered_by.append(row.container_id)
                if row.status == api_pb2.OUTPUT_STATUS_GENERATOR_ITEM:
                    data = self.blobs.read(row.data_blob) if row.data_blob else row.data
                    try:
                        # Nothing the container names is imported or called.
                        part = loads_plain(data) if foreign is None else foreign.part(data)
                    except pickle.UnpicklingError as exc:
                        log.warning("web endpoint call %s sent a non-plain value: %s", call_id, exc)
                        raise _CallFailed(502, "Bad Gateway: the endpoint sent non-plain data") from None
                    yield part
                elif row.status != api_pb2.OUTPUT_STATUS_SUCCESS:
                    log.warning("web endpoint call %s failed: %s", call_id, row.exception_repr[:LOGGED_ERROR_CHARS])
                    status = 504 if row.status == api_pb2.OUTPUT_STATUS_TIMEOUT else 500
                    raise _CallFailed(status, "Internal Server Error" if status == 500 else "Gateway Timeout")
                else:
                    return
            if call.done and not rows:
                return

    async def _body(self, parts: AsyncIterator[Any], call_id: str, length: int | None = None) -> AsyncIterator[bytes]:
        """The response body, until the container says it is complete (or the call ends). The
        call goes on after that (the app's background tasks): a client that leaves once it has
        the whole body must not cancel it, and stop the container that answered it. With a
        Content-Length (`length`), the body is whole once that many bytes went out: a
        @web_server's or Server's proxy sends its end mark after its last bytes, and a client
        that left before the mark came stopped a Server session's container (the session ended)."""
        finished = False
        sent = 0
        try:
            async for part in parts:
                if isinstance(part, bytes | bytearray) and length is not None:
                    sent += len(part)
                    finished = sent >= length  # even if the client leaves during the last bytes
                if isinstance(part, LastBody):  # a Modal-defined endpoint's last chunk
                    finished = True  # even if the client leaves during the last bytes
                    yield bytes(part)
                    break
                if isinstance(part, bytes | bytearray):
                    yield bytes(part)
                elif isinstance(part, dict) and part.get("type") == config.WEB_RESPONSE_END:
                    finished = True  # even if the client leaves during the last bytes
                    last = part.get("body")
                    if isinstance(last, bytes | bytearray) and last:
                        yield bytes(last)
                    break
            finished = True
        except _CallFailed:
            return  # the status line is already sent; end the body
        finally:
            if not finished:
                self.control.cancel_call(call_id)  # the HTTP client went away mid-body


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The response's declared body length, if it declares one (and one only)."""
    values = [value for name, value in headers if name.lower() == b"content-length"]
    if len(values) != 1 or not values[0].strip().isdigit():
        return None
    return int(values[0])


class _ClientGone(Exception):
    """The HTTP client disconnected before the response started."""


class _CallFailed(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
