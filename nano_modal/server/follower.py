"""A server that is not the store's active server still serves: it forwards every call.

Only the active server (the holder of the store lease, leader.py) keeps the hot state:
queues, containers, waiters. Every other server started on the same store is a
*follower*: it answers every RPC, unary and streaming, on gRPC and on its fast lane, by
sending it as is to the active server, whose address it reads from the lease
(`leader.active_address`). Clients and workers may therefore use any server's address.
A follower holds no credentials of its own: tokens travel with each call and are checked
by the active server. When the active server dies, one follower takes the lease and
becomes the active server: the same gRPC server and fast lane, now handing each call to
the local `Service` (no port changes hands, no connection drops); the others forward to
it from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import grpc
import grpc.aio

from .. import config
from .._fast_lane import UNARY_METHODS, FastLane
from .._fast_lane import address as lane_address
from ..client import channel_options
from ..proto import api_pb2, api_pb2_grpc
from ..version import __version__
from . import leader
from .leader import Lease

log = logging.getLogger("nano_modal.server")

Context = grpc.aio.ServicerContext[Any, Any]

_SERVICE = api_pb2.DESCRIPTOR.services_by_name["NanoModal"]
_PREFIX = f"/{_SERVICE.full_name}/"
# Answers that name a port of the server that gave them: a follower names its own instead.
_NAMES_FAST_LANE = {"Hello": api_pb2.HelloResponse, "ContainerHello": api_pb2.ContainerHelloResponse}
_DROPPED_METADATA = ("user-agent", "grpc-")  # set by each hop's own gRPC library
_NO_ACTIVE_SERVER = "no active server right now: try again"  # UNAVAILABLE: callers retry
_RAW: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}  # bytes as they came
KNOWN_TOKEN_TTL = 60.0  # seconds a follower trusts a token the active server accepted


_background: set[asyncio.Future[None]] = set()


def _in_background(coroutine: Coroutine[Any, Any, None]) -> None:
    future = asyncio.ensure_future(coroutine)
    _background.add(future)
    future.add_done_callback(_background.discard)


class NoActiveServer(Exception):
    pass


class Forwarder(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Every method of the NanoModal service, sent on to the active server as raw bytes."""

    def __init__(self, find_active: Callable[[], str | None], token: str) -> None:
        self._find_active = find_active  # the active server's address, from the lease (blocking)
        self._token = token  # the admin token: to ask the active server where its gateway is
        self.own_fast_lane_port = 0  # this server's own fast lane (0: none), named in forwarded Hellos
        self.own_web_url = ""  # this server's HTTP gateway (web_proxy.py while following)
        self.active_web_url = ""  # the active server's, which web_proxy.py relays to
        self.web_domain = ""  # this server's --web-domain, named in the Hello it answers itself
        self._local: grpc.GenericRpcHandler | None = None  # type: ignore[type-arg]  # this server's Service
        self._address: str | None = None
        self._channel: grpc.aio.Channel | None = None
        self._methods = {m.name: m for m in _SERVICE.methods}
        self._active_lane_port = 0  # the active server's fast lane (0: unknown or none)
        self._pinned = False
        self._lanes: OrderedDict[str, FastLane] = OrderedDict()  # by caller's token, oldest first
        self._service: Any = None  # this server's own Service, once it is the active server
        self._known_tokens: OrderedDict[str, float] = OrderedDict()  # token -> loop time it is trusted until

    # --- the active server -------------------------------------------------------------

    async def refresh(self, pin: str | None = None) -> str | None:
        """Read the active server's address again; reconnect if it moved. `pin`: use this
        address from now on (this process's own server, once it is the active one)."""
        if pin is not None:
            self._pinned = True
        elif self._pinned:
            return self._address
        address = pin or await asyncio.to_thread(self._find_active)
        if self._pinned and pin is None:
            return self._address  # pinned while the lease was being read
        if address != self._address:
            old, self._channel = self._channel, None
            self._address = address
            self._active_lane_port = 0
            self.active_web_url = ""
            for lane in self._lanes.values():
                _in_background(lane.close())
            self._lanes.clear()
            if address is not None:
                if pin is None:
                    log.info("follower: forwarding calls to the active server at %s", address)
                self._channel = grpc.aio.insecure_channel(address, options=channel_options())
            if old is not None:
                # Not at once: closing a channel cancels the calls still on it.
                asyncio.get_running_loop().call_later(30, lambda: _in_background(old.close(None)))
        if self._channel is not None and not self.active_web_url and not self._pinned:
            await self._learn_active(self._channel)
        return address

    async def _learn_active(self, channel: grpc.aio.Channel) -> None:
        """Where the active server's gateway and fast lane are (its Hello says)."""
        hello = channel.unary_unary(
            _PREFIX + "Hello",
            request_serializer=api_pb2.HelloRequest.SerializeToString,
            response_deserializer=api_pb2.HelloResponse.FromString,
        )
        with contextlib.suppress(grpc.aio.AioRpcError):  # not up yet: asked again at the next refresh
            metadata = ((config.TOKEN_METADATA_KEY, self._token),)
            response = await hello(api_pb2.HelloRequest(), metadata=metadata, timeout=config.CONNECT_TIMEOUT)
            self.active_web_url = response.web_base_url
            self._active_lane_port = response.fast_lane_port

    async def _active(self) -> grpc.aio.Channel:
        if self._channel is None:
            await self.refresh()
        if self._channel is None:
            raise NoActiveServer
        return self._channel

    async def close(self) -> None:
        for lane in self._lanes.values():
            await lane.close()
        if self._channel is not None:
            await self._channel.close(None)

    # --- gRPC ----------------------------------------------------------------------------

    async def serve_locally(self, service: Any, own_address: str) -> None:
        """This server now holds the lease: serve every new call with `service` here. Calls
        held while waiting for an active server are sent to this server's own address."""
        capture = _Capture()
        api_pb2_grpc.add_NanoModalServicer_to_server(service, capture)  # type: ignore[no-untyped-call]
        self._local = capture.handler
        self._service = service
        await self.refresh(pin=own_address)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        if self._local is not None:
            return self._local.service(handler_call_details)
        full_name: str = handler_call_details.method
        method = self._methods.get(full_name.removeprefix(_PREFIX)) if full_name.startswith(_PREFIX) else None
        if method is None:
            return None
        if method.client_streaming and method.server_streaming:
            return grpc.stream_stream_rpc_method_handler(self._stream(full_name, client_streaming=True))
        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._stream(full_name, client_streaming=False))
        if method.client_streaming:
            return grpc.stream_unary_rpc_method_handler(self._stream_unary(full_name))
        return grpc.unary_unary_rpc_method_handler(self._unary(full_name, method.name))

    def _unary(self, full_name: str, name: str) -> Callable[[bytes, Context], Awaitable[bytes]]:
        async def forward(request: bytes, context: Context) -> bytes:
            return await self._call_unary(full_name, name, request, _metadata(context), context)

        return forward

    def _stream(self, full_name: str, *, client_streaming: bool) -> Callable[[Any, Context], AsyncIterator[bytes]]:
        async def forward(request: Any, context: Context) -> AsyncIterator[bytes]:
            try:
                channel = await self._active()
            except NoActiveServer:
                await context.abort(grpc.StatusCode.UNAVAILABLE, _NO_ACTIVE_SERVER)
            if client_streaming:
                call: Any = channel.stream_stream(full_name, **_RAW)(request, metadata=_metadata(context))
            else:
                call = channel.unary_stream(full_name, **_RAW)(request, metadata=_metadata(context))
            try:
                async for response in call:
                    yield response
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "")
            finally:
                call.cancel()  # the caller went away: so does the call on the active server

        return forward

    def _stream_unary(self, full_name: str) -> Callable[[Any, Context], Awaitable[bytes]]:
        async def forward(requests: Any, context: Context) -> bytes:
            try:
                channel = await self._active()
                response: bytes = await channel.stream_unary(full_name, **_RAW)(requests, metadata=_metadata(context))
                return response
            except NoActiveServer:
                await context.abort(grpc.StatusCode.UNAVAILABLE, _NO_ACTIVE_SERVER)
            except grpc.aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "")
            raise AssertionError("unreachable")

        return forward

    async def _send_unary(
        self, full_name: str, name: str, request: bytes, metadata: tuple[tuple[str, str], ...], timeout: float | None
    ) -> bytes:
        """Over the active server's fast lane once its port is known (from a Hello forwarded
        through here), else over gRPC. A fast lane that fails leaves gRPC to find out why."""
        channel = await self._active()
        lane = self._lane(dict(metadata).get(config.TOKEN_METADATA_KEY, ""))
        if lane is not None and name in UNARY_METHODS:
            try:
                return await lane.call_raw(name, request, timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                self._active_lane_port = 0
        response: bytes = await channel.unary_unary(full_name, **_RAW)(request, metadata=metadata, timeout=timeout)
        return response

    def _lane(self, token: str) -> FastLane | None:
        """The fast-lane connection to the active server for callers with `token` (a lane
        authenticates once per connection), the least recently used closed past a bound."""
        address = lane_address(self._address or "", self._active_lane_port)
        if address is None:
            return None
        lane = self._lanes.pop(token, None)
        if lane is None:
            lane = FastLane(address, token)
        self._lanes[token] = lane
        while len(self._lanes) > config.FOLLOWER_MAX_LANES:
            _, oldest = self._lanes.popitem(last=False)
            _in_background(oldest.close())
        return lane

    async def _call_unary(
        self, full_name: str, name: str, request: bytes, metadata: tuple[tuple[str, str], ...], context: Any
    ) -> bytes:
        if name == "Hello" and hmac.compare_digest(dict(metadata).get(config.TOKEN_METADATA_KEY, ""), self._token):
            # Answered here: "this server is up and speaks your protocol" is true of a follower
            # even while no server is active, and the caller's next calls wait out a takeover.
            return bytes(self._hello().SerializeToString())
        # While the active server changes hands, hold the call (within its deadline) rather than
        # fail it: the caller reached a live server, and it will have an active one shortly.
        timeout = context.time_remaining() if hasattr(context, "time_remaining") else None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        give_up = loop.time() + config.FOLLOWER_PATIENCE
        if deadline is not None:
            give_up = min(give_up, deadline)
        backoff = 0.05
        while True:
            remaining = None if deadline is None else max(0.1, deadline - loop.time())
            try:
                response = await self._send_unary(full_name, name, request, metadata, remaining)
                break
            except NoActiveServer:
                if loop.time() + backoff > give_up:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, _NO_ACTIVE_SERVER)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or loop.time() + backoff > give_up:
                    await context.abort(exc.code(), exc.details() or "")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
            await self.refresh()
        answer_type = _NAMES_FAST_LANE.get(name)
        if answer_type is None:
            return response
        answer: Any = answer_type.FromString(response)  # type: ignore[attr-defined]
        answer.fast_lane_port = self.own_fast_lane_port
        if self.own_web_url and name == "Hello":
            answer.web_base_url = self.own_web_url
        return bytes(answer.SerializeToString())

    def _hello(self) -> api_pb2.HelloResponse:
        return api_pb2.HelloResponse(
            server_version=__version__,
            protocol_version=config.PROTOCOL_VERSION,
            role="admin",
            web_base_url=self.own_web_url,
            web_domain=self.web_domain,
            fast_lane_port=self.own_fast_lane_port,
        )

    # --- the fast lane ---------------------------------------------------------------------

    async def valid_token(self, token: str) -> bool | None:
        """For the gRPC gate and the fast lane's connection check: is `token` known?
        None when it cannot tell now (no active server): the lane then hangs up unanswered
        and the caller falls back to gRPC, which waits out the takeover."""
        if self._service is not None:  # this server is the active one
            return bool(self._service.valid_token(token))
        if hmac.compare_digest(token, self._token):
            return True
        loop = asyncio.get_running_loop()
        if self._known_tokens.get(token, 0.0) > loop.time():
            return True
        metadata = ((config.TOKEN_METADATA_KEY, token),)
        try:
            await self._send_unary(_PREFIX + "Hello", "Hello", b"", metadata, config.CONNECT_TIMEOUT)
        except NoActiveServer:
            return None
        except grpc.aio.AioRpcError as exc:
            return False if exc.code() == grpc.StatusCode.UNAUTHENTICATED else None
        # Remembered a while, so that forwarding does not cost a Hello per call; the active
        # server checks the token of every call again anyway.
        self._known_tokens[token] = loop.time() + KNOWN_TOKEN_TTL
        while len(self._known_tokens) > config.FOLLOWER_MAX_LANES:
            self._known_tokens.popitem(last=False)
        return True

    def __getattr__(self, name: str) -> Callable[[Any, Any], Awaitable[Any]]:
        """`FastLaneServer` calls `service.<Method>(request, context)`: the same forwarding."""
        method = self.__dict__.get("_methods", {}).get(name)
        if method is None or method.client_streaming or method.server_streaming:
            raise AttributeError(name)
        response_type = getattr(api_pb2, method.output_type.name)

        async def forward(request: Any, context: Any) -> Any:
            metadata = tuple(context.invocation_metadata())
            body = await self._call_unary(_PREFIX + name, name, request.SerializeToString(), metadata, context)
            return response_type.FromString(body)

        return forward


def _metadata(context: Context) -> tuple[tuple[str, str], ...]:
    return tuple(
        (key, str(value))
        for key, value in context.invocation_metadata() or ()
        if not key.startswith(":") and not key.startswith(_DROPPED_METADATA)
    )


async def follow(store_url: str, forwarder: Forwarder) -> Lease:
    """Forward calls until this server gets the store lease; then it is the active server."""
    while True:
        lease = await leader.try_acquire(store_url)
        if lease is not None:
            return await leader.take_over(lease)
        await forwarder.refresh()
        await asyncio.sleep(config.LEADER_POLL_INTERVAL)


class _Capture:
    """Stands in for a grpc server to catch the handler the generated code would register."""

    handler: grpc.GenericRpcHandler  # type: ignore[type-arg]

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:  # type: ignore[type-arg]
        (self.handler,) = handlers

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        pass  # the generic handler above serves the same methods
