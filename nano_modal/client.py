"""The connection to a nano-modal server: one gRPC channel per process, on the SDK's loop.

`Client.get()` connects to `NANO_MODAL_SERVER_URL` (or the config file), or, with no
server configured, starts an embedded server and worker on loopback for the life of
this process.

Once connected, a call that finds the server unreachable (restarting, say) is retried with
backoff before `ConnectionError`, and so is an idempotent call (a poll, a get) that the server
did not answer in time (waiting for its database, say), for up to config.SERVER_WAIT_TIMEOUT:
the server's own store-retry window (`NANO_MODAL_STORE_RETRY_TIMEOUT`) plus time to answer, at
least `NANO_MODAL_RECONNECT_TIMEOUT`. A map in progress simply resumes when the server is back
(docs/DEPLOY.md); after a few seconds the client says on stderr that it is waiting.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio

from . import config
from ._fast_lane import UNARY_METHODS, BlockingFastLane, FastLane
from ._fast_lane import address as fast_lane_address
from ._utils.aio import NOT_NOW, background_loop_running, class_twin, run_blocking, run_in_background, twin
from .exception import (
    AlreadyExistsError,
    AuthError,
    ClientClosed,
    ConnectionError,
    Error,
    ExecutionError,
    InvalidError,
    NotFoundError,
)
from .proto import api_pb2, api_pb2_grpc
from .version import __version__

_STATUS_TO_ERROR: dict[grpc.StatusCode, type[Error]] = {
    grpc.StatusCode.UNAUTHENTICATED: AuthError,
    grpc.StatusCode.PERMISSION_DENIED: AuthError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidError,
    grpc.StatusCode.FAILED_PRECONDITION: ExecutionError,
}


def translate_rpc_error(exc: grpc.aio.AioRpcError, server_url: str) -> Error:
    code = exc.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return ConnectionError(f"cannot reach the nano-modal server at {server_url}: {exc.details()}")
    if code == grpc.StatusCode.PERMISSION_DENIED:  # a valid token that may not do this
        return AuthError(exc.details() or "permission denied")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthError(
            f"the server at {server_url} rejected the token ({exc.details()}); "
            f"set {config.ENV_TOKEN} or run `nano-modal token set`"
        )
    return _STATUS_TO_ERROR.get(code, Error)(exc.details() or str(code))


log = logging.getLogger("nano_modal.client")

# Calls that change nothing (or set what they set again): resent after a timeout, not only after
# a lost connection, for up to config.SERVER_WAIT_TIMEOUT. Any other call that times out may or
# may not have happened on the server: that one fails, and its error says so.
IDEMPOTENT_METHODS = frozenset(
    {
        "Hello", "AppHeartbeat", "AppLookup", "AppList", "AppHistory", "FunctionGet", "FunctionGetOutputs",
        "FunctionCallGet", "BlobHas", "BlobGet", "WorkerPoll", "ContainerHeartbeat", "ObjectList",
        "ObjectHeartbeat", "DictGet", "DictContains", "DictLen", "DictContents", "QueueLen", "VolumeGetManifest",
        "VolumeListFiles", "VolumeReadFile", "VolumeBlobHas", "VolumeBlobGet", "SandboxGet", "SandboxList",
        "SandboxWait", "ContainerExecWait", "ContainerList", "FunctionGetTimeRangeStats", "FunctionGetMetrics",
        "AppGetTimeRangeStats", "FunctionGetCallGraph",
    }
)  # fmt: skip
# Seconds the exit waits for the connections to close: a server gone away must not hold up an exit.
CLOSE_AT_EXIT_TIMEOUT = 2.0
_RESENT_AFTER = {grpc.StatusCode.UNAVAILABLE}
_RESENT_AFTER_IF_IDEMPOTENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def _say_waiting(name: str, server_url: str, waited: float, exc: grpc.aio.AioRpcError) -> None:
    """A visible line (not only a log record): the program is waiting, not hung."""
    reason = "not answering in time" if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED else "unreachable"
    print(
        f"nano-modal: waiting for the server at {server_url} ({reason} for {waited:.0f}s; {name} is retried "
        f"for up to {config.SERVER_WAIT_TIMEOUT:g}s)",
        file=sys.stderr,
        flush=True,
    )


channel_options = config.grpc_channel_options


class _Stub:
    """The generated stub, with gRPC errors turned into nano-modal errors that name the server,
    unary calls over the fast lane when the server offers one, and reconnection: a call that
    finds the server unreachable is retried with backoff, moving on to the next of several
    server addresses (servers on one store, docs/DEPLOY.md) when there are several."""

    def __init__(self, server_urls: list[str], token: str) -> None:
        self._urls = server_urls
        self._current = 0
        self._token = token
        self._metadata = ((config.TOKEN_METADATA_KEY, token),)
        self.fast: FastLane | None = None  # set once the server says where its fast lane is
        self._blocking: BlockingFastLane | None = None  # the same lane, for calls off the SDK's loop
        self.fast_lane_port = 0  # the server's fast-lane port while this client uses the lane
        self._connect()

    @property
    def server_url(self) -> str:
        return self._urls[self._current]

    def _connect(self) -> None:
        self.channel = grpc.aio.insecure_channel(self.server_url, options=channel_options())
        self._raw = api_pb2_grpc.NanoModalStub(self.channel)  # type: ignore[no-untyped-call]

    def use_fast_lane(self, port: int) -> None:
        address = fast_lane_address(self.server_url, port)
        if self.fast is not None and address and self.fast_lane_port == port:
            return  # the lane the Hello itself went over: kept (a second one would orphan its reader)
        self.fast_lane_port = port if address else 0  # the server's, when this client uses it
        self.fast = FastLane(address, self._token) if address else None
        self._blocking = BlockingFastLane(address, self._token) if address else None

    def call_now(self, name: str, request: Any, timeout: float = config.CONNECT_TIMEOUT * 2) -> Any:
        """A unary call on the calling thread, over its own fast-lane socket: no hop to the SDK's
        loop. NOT_NOW when there is no fast lane or it is down (the caller then takes the usual
        path, which reconnects); the server's errors are raised as usual."""
        lane = self._blocking if self.fast is not None else None
        if lane is None:
            return NOT_NOW
        try:
            return lane.call(name, request, timeout)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return NOT_NOW
            raise translate_rpc_error(exc, self.server_url) from None  # type: ignore[arg-type]

    def _fail_over(self, failed_url: str) -> None:
        """Move on from `failed_url` to the next server address, unless a concurrent call already
        did (with one address, gRPC reconnects by itself)."""
        self.fast = None  # until the next Hello says where that server's fast lane is
        if len(self._urls) > 1 and self.server_url == failed_url:
            old = self.channel
            self._current = (self._current + 1) % len(self._urls)
            self._connect()
            # Not closed now: closing a channel cancels the calls still on it (other tasks' polls).
            loop = asyncio.get_running_loop()
            loop.call_later(config.RECONNECT_TIMEOUT, lambda: loop.create_task(old.close(None)))

    async def _hello_again(self) -> None:
        """After a reconnection: find the (possibly other) server's fast lane."""
        with contextlib.suppress(grpc.aio.AioRpcError):
            response = await self._raw.Hello(
                api_pb2.HelloRequest(client_version=__version__),
                metadata=self._metadata,
                timeout=config.CONNECT_TIMEOUT,
            )
            self.use_fast_lane(response.fast_lane_port)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def call(request: Any, timeout: float | None = None, reconnect: bool = True) -> Any:
            # UNAVAILABLE: the server is down or restarting (it recovers its state from the store).
            # Resending is safe for the calls that matter: inputs carry their index, outputs are
            # read by cursor (a destructive Queue.get lost in flight stays lost, as with Redis).
            loop = asyncio.get_running_loop()
            started = loop.time()
            give_up = started + (config.SERVER_WAIT_TIMEOUT if reconnect else 0.0)
            resent_after = _RESENT_AFTER_IF_IDEMPOTENT if name in IDEMPOTENT_METHODS else _RESENT_AFTER
            backoff = 0.1
            lost = said_waiting = False
            while True:
                url = self.server_url
                try:
                    if self.fast is not None and name in UNARY_METHODS:
                        try:
                            return await self.fast.call(name, request, timeout)
                        except grpc.aio.AioRpcError as exc:
                            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                                raise
                            self.fast = None  # try gRPC now; the next Hello may restore the lane
                    response = await getattr(self._raw, name)(request, metadata=self._metadata, timeout=timeout)
                    if lost:
                        await self._hello_again()
                    return response
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in resent_after or loop.time() + backoff > give_up:
                        raise _final_error(name, exc, self.server_url, reconnect, loop.time() - started) from None
                    if not said_waiting and loop.time() - started >= config.SERVER_WAIT_NOTICE:
                        _say_waiting(name, self.server_url, loop.time() - started, exc)
                        said_waiting = True
                lost = True
                self._fail_over(url)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

        return call

    def stream(self, name: str, request: Any) -> AsyncIterator[Any]:
        """A server-streaming call, with the same error translation."""
        call = getattr(self._raw, name)(request, metadata=self._metadata)

        async def iterate() -> AsyncIterator[Any]:
            try:
                async for item in call:
                    yield item
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.CANCELLED:
                    return
                raise translate_rpc_error(exc, self.server_url) from None
            finally:
                call.cancel()

        return iterate()

    def bidi(self, name: str, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """A bidirectional stream (a sandbox's relay), with the same error translation."""
        return self.stream(name, requests)

    async def put_blob_stream(
        self, chunks: AsyncIterator[api_pb2.BlobChunk], method: str = "BlobPut"
    ) -> api_pb2.BlobPutResponse:
        """A client-streaming upload: BlobPut, or VolumeBlobPut for volume contents."""
        try:
            call = getattr(self._raw, method)
            response: api_pb2.BlobPutResponse = await call(chunks, metadata=self._metadata)
            return response
        except grpc.aio.AioRpcError as exc:
            raise translate_rpc_error(exc, self.server_url) from None


def _final_error(name: str, exc: grpc.aio.AioRpcError, server_url: str, reconnect: bool, waited: float) -> Error:
    error = translate_rpc_error(exc, server_url)
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and name not in IDEMPOTENT_METHODS:
        error.args = (
            f"the server at {server_url} did not answer {name} in time: it may or may not have been done "
            "(it is not resent, since doing it twice could differ from doing it once); check before repeating it",
        )
    elif reconnect and waited > 0 and exc.code() in _RESENT_AFTER_IF_IDEMPOTENT:  # it was waited for
        error.args = (f"{error.args[0]} (still not answering after {waited:.0f}s)",)
    return error


class Client:
    """A connected client. Obtain it with `await Client.get()`."""

    _instance: Client | None = None
    _instance_lock = threading.Lock()
    _forked_from: Client | None = None  # in a forked child: its parent's client (its connections unused)

    def __init__(self, server_url: str, token: str) -> None:
        """`server_url`: host:port, or several separated by commas (servers on one store: any of them serves)."""
        self.server_urls = [url.strip() for url in server_url.split(",") if url.strip()]
        if not self.server_urls:
            raise InvalidError(f"no server address in {server_url!r}")
        self.token = token
        self.stub = _Stub(self.server_urls, token)
        self.role = ""
        self.web_base_url = ""
        self.web_domain = ""
        self.workspace = config.DEFAULT_WORKSPACE  # the token's (Hello says): web endpoint addresses carry it
        self._closed = False

    @property
    def server_url(self) -> str:
        """The address in use now."""
        return self.stub.server_url

    @classmethod
    async def get(cls) -> Client:
        if cls._instance is None:
            client = await run_in_background(cls._connect_from_env())
            with cls._instance_lock:
                if cls._instance is None:
                    cls._instance = client
                    atexit.register(close_current)
        return cls._instance

    async def _close(self) -> None:
        """Close the connections (fast lane and gRPC channel)."""
        self._closed = True
        if self.stub.fast is not None:
            await self.stub.fast.close()
        await self.stub.channel.close(None)

    @classmethod
    async def _connect_from_env(cls) -> Client:
        if cls._forked_from is not None:  # a forked child: its parent's server, no gRPC before a streaming call
            return cls._forked_from._child_copy()
        cfg = config.client_config()
        server_url, token = cfg.server_url, cfg.token
        if server_url is None:
            if config.is_remote():
                raise ConnectionError("inside a container but no server address was provided")
            from .embedded import start_embedded  # deferred: only the embedded path needs it

            server_url, token = await asyncio.to_thread(start_embedded)
        if not server_url or not token:
            raise AuthError(
                f"no token for the server at {server_url}: set {config.ENV_TOKEN} or run `nano-modal token set`"
            )
        client = cls(server_url, token)
        known_port = os.environ.get(config.ENV_FAST_LANE_PORT, "")
        if known_port.isdigit():
            client.stub.use_fast_lane(int(known_port))  # the Hello itself goes over it
        await client._hello()
        return client

    def _child_copy(self) -> Client:
        """For a forked child: a client of the same server with connections of its own, told
        what this one's Hello said (the active address first, its fast lane in use)."""
        active = self.stub.server_url
        client = Client(",".join([active, *(url for url in self.server_urls if url != active)]), self.token)
        client.role, client.web_base_url, client.web_domain = self.role, self.web_base_url, self.web_domain
        client.workspace = self.workspace
        client.stub.use_fast_lane(self.stub.fast_lane_port)
        return client

    async def _hello(self, *, wait: float = 0.0) -> None:
        """The first contact fails fast, but tries each address once (the active one may be any).
        `wait`: keep trying that many seconds (a worker started before its server, or while the
        machine is too busy to answer within CONNECT_TIMEOUT)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait
        response = None
        while response is None:
            for _ in self.server_urls:
                try:
                    response = await self.stub.Hello(
                        api_pb2.HelloRequest(client_version=__version__),
                        timeout=config.CONNECT_TIMEOUT,
                        reconnect=False,
                    )
                    break
                except ConnectionError:
                    last_address = len(self.server_urls) == 1 or self.server_url == self.server_urls[-1]
                    if last_address and loop.time() >= give_up:
                        raise
                    self.stub._fail_over(self.server_url)
            if response is None:
                log.warning("no server answers at %s yet: trying again", ",".join(self.server_urls))
                await asyncio.sleep(1.0)
        if response.protocol_version != config.PROTOCOL_VERSION:
            raise ExecutionError(
                f"server at {self.server_url} speaks protocol v{response.protocol_version}, "
                f"this client speaks v{config.PROTOCOL_VERSION}"
            )
        self.role = response.role
        self.web_base_url = response.web_base_url
        self.web_domain = response.web_domain  # endpoints have hosts <label>.<web_domain> ("": path form only)
        self.workspace = response.workspace or config.DEFAULT_WORKSPACE  # (a server before workspaces says "")
        self.stub.use_fast_lane(response.fast_lane_port)

    # --- Modal's public Client API (modal.Client) ----------------------------------------

    @property
    def client_type(self) -> str:
        """What the server lets this client's token do: "admin" or "container" (Modal's is an enum
        of client kinds; nano-modal's server tells roles apart)."""
        return self.role

    def is_closed(self) -> bool:
        """Whether close() was called: a closed client makes no more calls."""
        return self._closed

    @twin
    async def hello(self) -> None:
        """Ask the server for its version and role now: raises ConnectionError or AuthError."""
        if self._closed:
            raise ClientClosed(f"this client of {self.server_url} is closed")
        await self._hello()

    @twin
    async def close(self) -> None:
        """Close this client's connections. Closing the process's client (from_env's) makes the next
        call connect again; closing one from from_credentials ends it."""
        await self._close()
        if Client._instance is self:
            Client._instance = None

    @class_twin
    async def from_env(cls: type[Client]) -> Client:
        """The process's client: the server that NANO_MODAL_SERVER_URL/NANO_MODAL_TOKEN or the config
        file names (an embedded one when none does). Every call of the SDK uses this one."""
        return await cls.get()

    @class_twin
    async def from_credentials(cls: type[Client], token_id: str, token_secret: str) -> Client:
        """A client of the configured server that uses another token, connected. A nano-modal token
        is one secret string: pass it as `token_secret`; `token_id` only labels it and is not sent.
        nano-modal's calls use the process's client (from_env), so this one serves hello() and
        checking a token."""
        del token_id
        server_url = config.client_config().server_url or (await cls.get()).server_url
        client = cls(server_url, token_secret)
        await client._hello()
        return client

    @class_twin
    async def verify(cls: type[Client], server_url: str, credentials: tuple[str, str]) -> None:
        """Check that the server at `server_url` answers and accepts `credentials` (token_id,
        token_secret): raises ConnectionError or AuthError if not."""
        client = cls(server_url, credentials[1])
        try:
            await client._hello()
        finally:
            await client._close()

    @classmethod
    def reset(cls) -> None:
        """Forget the connection (tests; after fork)."""
        cls._instance = None

    # --- payloads --------------------------------------------------------------------

    async def make_payload(self, data: bytes) -> api_pb2.Payload:
        if len(data) <= config.INLINE_PAYLOAD_LIMIT:
            return api_pb2.Payload(data=data)
        return api_pb2.Payload(blob_id=await self.upload_blob(data))

    async def read_payload(self, payload: api_pb2.Payload) -> bytes:
        if payload.blob_id:
            return await self.download_blob(payload.blob_id)
        return payload.data

    async def upload_blob(self, data: bytes) -> str:
        blob_id = hashlib.sha256(data).hexdigest()
        if (await self.stub.BlobHas(api_pb2.BlobHasRequest(blob_id=blob_id))).exists:
            return blob_id

        async def chunks() -> AsyncIterator[api_pb2.BlobChunk]:
            step = config.BLOB_CHUNK_SIZE
            for start in range(0, max(len(data), 1), step):
                yield api_pb2.BlobChunk(blob_id=blob_id if start == 0 else "", data=data[start : start + step])

        await self.stub.put_blob_stream(chunks())
        return blob_id

    async def download_blob(self, blob_id: str) -> bytes:
        parts = [chunk.data async for chunk in self.stub.stream("BlobGet", api_pb2.BlobGetRequest(blob_id=blob_id))]
        return b"".join(parts)


def _forget_client_in_child() -> None:
    """A forked child connects anew: the parent's connections are the parent's (answers on a
    shared socket could reach either process) and its loop's thread is not in the child. What
    the parent's Hello said is kept, so the child goes straight to a fast lane of its own: a
    gRPC call made in a forked child may never return (gRPC's fork support is off in workers and
    containers, and skipped in a client whose threads were calling into gRPC at the fork)."""
    parent = Client._instance
    Client._instance = None
    Client._instance_lock = threading.Lock()
    Client._forked_from = parent if parent is not None and parent.stub.fast is not None else None


os.register_at_fork(after_in_child=_forget_client_in_child)


def client_of(obj: object, hydrated: bool) -> Client:
    """`x.client` of an object: the client that hydrated it (nano-modal has one per process)."""
    if not hydrated or Client._instance is None:
        raise AttributeError(f"{obj!r} is not hydrated yet: it has no client")
    return Client._instance


def close_current() -> None:
    """Close the process's client while the SDK's event loop still runs (at exit, and at a
    container's end): a connection left open keeps a reader task pending, and the
    interpreter's exit then prints "Task was destroyed but it is pending! ... FastLane._read()"
    after the program's own output."""
    client = Client._instance
    if client is None or not background_loop_running():
        return
    with contextlib.suppress(Exception):  # exiting anyway: a connection that will not close is no reason to hang
        run_blocking(asyncio.wait_for(client._close(), CLOSE_AT_EXIT_TIMEOUT))
