"""`Function` and `FunctionCall`: calling user code remotely.

A Function is created by `@app.function()` and hydrated (given a server-side id) when
its app runs. Every calling method blocks, and has an async twin under `.aio`:

```python
result = square.remote(3)
result = await square.remote.aio(3)
for value in square.map(range(10)): ...
async for value in square.map.aio(range(10)): ...
```
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import _log_sync, config
from ._definition import FunctionOptions
from ._function_variants import FunctionVariants
from ._remote_now import remote_now
from ._runtime_context import current_input_id
from ._utils.aio import twin
from ._web_host import endpoint_url
from .client import Client, client_of
from .exception import (
    ExecutionError,
    InvalidError,
)
from .function_call import FunctionCall as FunctionCall
from .function_call import Raised, _cancel_quietly, _is_final, _OutputStream, _raise_or_return
from .proto import api_pb2
from .serialization import serialize_args
from .web import WEB_MARK

if TYPE_CHECKING:
    from ._logs import LogsManager
    from .app import App
    from .types import FunctionInfo


class Function(FunctionVariants):
    """A function registered on an App; call it with `.remote()`, `.map()`, `.spawn()` and friends."""

    object_id: str | None  # the server's id, once hydrated
    app: App | None  # the app that defined it (None for a handle from from_name / from_id)

    def __init__(self, app: App | None, raw_f: Callable[..., Any], name: str, options: FunctionOptions) -> None:
        self.raw_f = raw_f
        self.name = name
        self.options = options
        self.app = app
        self.is_generator = inspect.isgeneratorfunction(raw_f) or inspect.isasyncgenfunction(raw_f)
        self.is_async = inspect.iscoroutinefunction(raw_f) or inspect.isasyncgenfunction(raw_f)
        self.object_id: str | None = None
        # How a handle that did not come from this process's app finds its id (from_name, class methods).
        self._resolver: Callable[[], Awaitable[None]] | None = None
        self._method_name = ""  # set on the methods of a class instance
        self._web_app_ref = ""  # app id (ephemeral) or name (deployed) in this function's web URL
        self._web_label = ""  # a class method endpoint's label= (a function's is on raw_f)
        # Code under restrict_modal_access is not trusted: its results come back as plain data.
        self.plain_results = options.restrict_modal_access
        self._web_query = ""  # a class method endpoint's: the instance's parameters
        self.__doc__ = raw_f.__doc__
        self.__name__ = getattr(raw_f, "__name__", name)
        self.__qualname__ = getattr(raw_f, "__qualname__", name)
        self.__module__ = getattr(raw_f, "__module__", "__main__")

    @property
    def client(self) -> Client:
        """The client that hydrated this handle; AttributeError before it is hydrated."""
        return client_of(self, self.object_id is not None)

    def __repr__(self) -> str:
        return f"<nano_modal.Function {self.name}{' ' + self.object_id if self.object_id else ''}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Functions cross the wire by id: the receiving side calls the same deployed function.
        return (_function_from_id, (self.object_id or "", self.name, self.is_generator))

    def get_web_url(self) -> str | None:
        """The URL of this web endpoint (None if the function is not one)."""
        if getattr(self.raw_f, WEB_MARK, None) is None and self._resolver is None:
            return None
        from ._utils.aio import run_blocking

        client = run_blocking(Client.get())
        run_blocking(self._hydrated())
        if not client.web_base_url or not self._web_app_ref:
            return None
        mark = getattr(self.raw_f, WEB_MARK, None)
        label = mark.label if mark is not None else self._web_label
        url = endpoint_url(
            client.web_base_url, client.web_domain, client.workspace, self._web_app_ref, self.name, label
        )
        return f"{url}?{self._web_query}" if self._web_query else url

    @twin
    async def info(self, *, refresh: bool = False) -> FunctionInfo:
        """How the function is configured, as the server holds it (a `types.FunctionInfo`; always
        asked: `refresh` is accepted for Modal compatibility)."""
        from ._function_info import function_info

        del refresh
        client, function_id = await self._hydrated()
        found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=function_id))
        web_url = await asyncio.to_thread(self.get_web_url) if found.definition.web.kind else None  # it blocks
        return function_info(found.definition, web_url)

    @property
    def logs(self) -> LogsManager:
        """What this function's containers printed (`fn.logs.tail(100)`, `.fetch(since=)`, `.stream()`)."""
        from ._logs import LogsManager

        return LogsManager(self._app_and_id, keep=lambda line, _: line.function_name == self.name)

    async def _app_and_id(self) -> tuple[str, str]:
        client, function_id = await self._hydrated()
        if self.app is not None and self.app.app_id:
            return self.app.app_id, function_id
        if self._web_app_ref and self.app is None:  # from_name: the deployed app's name
            summary = await client.stub.AppLookup(api_pb2.AppLookupRequest(name=self._web_app_ref))
            return summary.app_id, function_id
        raise InvalidError(
            f"{self.name}: a handle from Function.from_id does not know its app, whose logs hold its own"
        )

    @twin
    async def hydrate(self) -> Function:
        """Resolve the function's id now (from_name: NotFoundError here if it is not deployed)."""
        await self._hydrated()
        return self

    def get_raw_f(self) -> Callable[..., Any]:
        return self.raw_f

    def local(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function here, in this process."""
        return self.raw_f(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.local(*args, **kwargs)

    # ------------------------------------------------------------------ hydration

    @staticmethod
    def from_id(function_id: str) -> Function:
        """A handle on a function by its id (e.g. `fn.object_id` sent by another process)."""
        fn = _function_from_id(function_id, function_id, False)

        async def resolve_kind() -> None:
            client = await Client.get()
            found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=function_id))
            fn.name, fn.is_generator = found.definition.name, found.definition.is_generator
            fn.plain_results = found.definition.restrict_modal_access

        fn.object_id = None  # resolved (and checked to exist) on first use
        fn._resolver = lambda: _then_set_id(resolve_kind(), fn, function_id)
        return fn

    @staticmethod
    def from_name(
        app_name: str, name: str, environment_name: str | None = None, *, version: int | None = None
    ) -> Function:
        """A handle on a function of a deployed app, resolved on first use.

        ```python
        f = nano_modal.Function.from_name("my-app", "square")
        f.remote(3)
        ```
        `version`: the deployed version meant; one that is not the current one fails on first use.
        """
        del environment_name  # one environment per server for now

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise InvalidError(f"{app_name}.{name} is a deployed function; call it with .remote()")

        fn = Function(None, unavailable, name, FunctionOptions())

        async def resolve() -> None:
            client = await Client.get()
            await check_version(client, app_name, version)
            request = api_pb2.FunctionGetRequest(app_name=app_name, function_name=name)
            found = await client.stub.FunctionGet(request)
            if found.definition.is_class:
                raise InvalidError(f"{app_name}.{name} is a class: use nano_modal.Cls.from_name")
            fn.object_id = found.function_id
            fn.is_generator = found.definition.is_generator
            fn.plain_results = found.definition.restrict_modal_access
            fn._web_app_ref = app_name

        fn._resolver = resolve
        return fn

    async def _hydrated(self, *, generator: bool | None = None) -> tuple[Client, str]:
        """The client and this function's id; `generator` says which kind of call is being made."""
        if self.object_id is None and self._resolver is not None:
            await self._resolver()
        if self.object_id is None and self.app is not None:
            await self.app._ensure_running()
        if self.object_id is None:
            raise ExecutionError(
                f"function {self.name} has no id: call it inside `with app.run():`, "
                "a local entrypoint, or after `Function.from_name`"
            )
        if generator is True and not self.is_generator:
            raise InvalidError(f"{self.name} is not a generator: call it with .remote()")
        if generator is False and self.is_generator:
            raise InvalidError(f"{self.name} is a generator: call it with .remote_gen()")
        return await Client.get(), self.object_id

    def _input(self, idx: int, payload: api_pb2.Payload) -> api_pb2.FunctionInput:
        return api_pb2.FunctionInput(idx=idx, args=payload, method_name=self._method_name)

    async def _call_one(
        self,
        client: Client,
        function_id: str,
        kind: api_pb2.CallKind,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        wait: float = 0.0,
    ) -> api_pb2.FunctionMapResponse:
        """Start a call with one input; with `wait`, the server answers with its first outputs."""
        request = api_pb2.FunctionMapRequest(
            function_id=function_id,
            kind=kind,
            inputs_complete=True,
            inputs=[self._input(0, await self._payload(client, args, kwargs))],
            wait_for_output=wait,
            parent_input_id=current_input_id() or "",
        )
        response: api_pb2.FunctionMapResponse = await client.stub.FunctionMap(
            request, timeout=(wait + config.CONNECT_TIMEOUT * 2) if wait else None
        )
        return response

    async def _payload(self, client: Client, args: tuple[Any, ...], kwargs: dict[str, Any]) -> api_pb2.Payload:
        return await client.make_payload(serialize_args(self.name, args, kwargs))

    # ------------------------------------------------------------------ single calls

    @twin
    async def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function remotely and return its result (or raise its exception)."""
        client, function_id = await self._hydrated(generator=False)
        response = await self._call_one(
            client, function_id, api_pb2.CALL_KIND_REMOTE, args, kwargs, wait=config.REMOTE_FAST_PATH_WAIT
        )
        return await self._finish_remote(client, response)

    @remote.fast
    def _remote_fast(self, *args: Any, **kwargs: Any) -> Any:
        return remote_now(self, args, kwargs)

    async def _finish_remote(self, client: Client, response: api_pb2.FunctionMapResponse) -> Any:
        """The rest of a `.remote()` whose FunctionMap was answered: its result."""
        stream = _OutputStream(client, response.call_id, self.name, response.next_cursor, self.plain_results)
        outputs = list(response.outputs)
        try:
            while not any(_is_final(o) for o in outputs):
                outputs = [o async for batch in stream.batches() for o in batch]
        except BaseException:
            await _cancel_quietly(client, response.call_id)
            raise
        final = next(o for o in outputs if _is_final(o))
        await _log_sync.wait(final.input_id, final.log_sync_lines)  # its prints first, then its result
        return _raise_or_return(await stream.decode(final))

    @twin
    async def remote_gen(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Run a generator function remotely, yielding its values as they are produced."""
        client, function_id = await self._hydrated(generator=True)
        response = await self._call_one(client, function_id, api_pb2.CALL_KIND_GENERATOR, args, kwargs)
        stream = _OutputStream(client, response.call_id, self.name, plain=self.plain_results)
        finished = False
        try:
            async for batch in stream.batches():
                for output in batch:
                    value = await stream.decode(output)
                    if output.status == api_pb2.OUTPUT_STATUS_GENERATOR_ITEM:
                        yield value
                    else:
                        finished = True
                        _raise_or_return(value)
                        return
        finally:
            if not finished:
                await _cancel_quietly(client, response.call_id)

    @twin
    async def spawn(self, *args: Any, **kwargs: Any) -> FunctionCall:
        """Start the function remotely and return a FunctionCall handle at once."""
        client, function_id = await self._hydrated()
        response = await self._call_one(client, function_id, api_pb2.CALL_KIND_SPAWN, args, kwargs)
        return FunctionCall(response.call_id, self.name, self.is_generator, plain=self.plain_results)

    # ------------------------------------------------------------------ maps

    @twin
    async def map(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> AsyncIterator[Any]:
        """Run the function over every element of the iterables (zipped), yielding results.

        Results come in input order unless `order_outputs=False`. With
        `return_exceptions=True`, failures are yielded as exception objects instead of raised.
        """
        _warn_wrap_returned_exceptions(wrap_returned_exceptions)
        extra = kwargs or {}
        async for value in self._map(
            ((args, extra) for args in zip(*input_iterators, strict=False)), order_outputs, return_exceptions
        ):
            yield value

    @twin
    async def starmap(
        self,
        input_iterator: Iterable[tuple[Any, ...]],
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> AsyncIterator[Any]:
        """Like map, but each element is a tuple of positional arguments."""
        _warn_wrap_returned_exceptions(wrap_returned_exceptions)
        extra = kwargs or {}
        async for value in self._map(
            ((tuple(args), extra) for args in input_iterator), order_outputs, return_exceptions
        ):
            yield value

    @twin
    async def for_each(
        self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None, ignore_exceptions: bool = False
    ) -> None:
        """Run the function over the inputs for its side effects, discarding results."""
        extra = kwargs or {}
        async for _ in self._map(
            ((args, extra) for args in zip(*input_iterators, strict=False)), False, ignore_exceptions
        ):
            pass

    @twin
    async def spawn_map(self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None) -> FunctionCall:
        """Submit a map and return at once; `FunctionCall.get()` returns the list of results."""
        client, function_id = await self._hydrated(generator=False)
        extra = kwargs or {}
        response = await client.stub.FunctionMap(_map_request(function_id))
        batch: list[api_pb2.FunctionInput] = []
        for idx, args in enumerate(zip(*input_iterators, strict=False)):
            batch.append(self._input(idx, await self._payload(client, args, extra)))
            if len(batch) >= config.MAP_INPUT_BATCH:
                await client.stub.FunctionPutInputs(
                    api_pb2.FunctionPutInputsRequest(call_id=response.call_id, inputs=batch)
                )
                batch = []
        await client.stub.FunctionPutInputs(
            api_pb2.FunctionPutInputsRequest(call_id=response.call_id, inputs=batch, inputs_complete=True)
        )
        return FunctionCall(response.call_id, self.name, False, is_map=True, plain=self.plain_results)

    experimental_spawn_map = spawn_map  # Modal's name for the spawn_map whose FunctionCall gets the results

    async def _map(
        self, calls: Iterator[tuple[tuple[Any, ...], dict[str, Any]]], order_outputs: bool, return_exceptions: bool
    ) -> AsyncIterator[Any]:
        client, function_id = await self._hydrated(generator=False)
        response = await client.stub.FunctionMap(_map_request(function_id))
        call_id = response.call_id
        window = _Window(config.MAP_MAX_INFLIGHT)
        feeder = asyncio.create_task(self._feed(client, call_id, calls, window))
        stream = _OutputStream(client, call_id, self.name, plain=self.plain_results)
        buffered: dict[int, Any] = {}
        next_idx = 0
        finished = False
        try:
            async for batch in _race(stream.batches(), feeder):
                for output in batch:
                    window.release()
                    await _log_sync.wait(output.input_id, output.log_sync_lines)  # its prints first, as .remote()
                    value = await stream.decode(output)
                    if isinstance(value, Raised):
                        if not return_exceptions:
                            raise value.exception
                        value = value.exception
                    if not order_outputs:
                        yield value
                        continue
                    buffered[output.idx] = value
                    while next_idx in buffered:
                        yield buffered.pop(next_idx)
                        next_idx += 1
            await feeder  # surfaces an error raised while reading or pickling inputs
            finished = True
        finally:
            if not feeder.done():
                feeder.cancel()
            if not finished:
                await _cancel_quietly(client, call_id)

    async def _feed(
        self, client: Client, call_id: str, calls: Iterator[tuple[tuple[Any, ...], dict[str, Any]]], window: _Window
    ) -> None:
        batch: list[api_pb2.FunctionInput] = []
        size = 0
        for idx in itertools.count():
            item = next(calls, None)
            if item is not None:
                payload = await self._payload(client, item[0], item[1])
                batch.append(self._input(idx, payload))
                size += len(payload.data)
            full = len(batch) >= config.MAP_INPUT_BATCH or size >= config.MAP_INPUT_BATCH_BYTES
            if item is None or full or (batch and window.would_block(len(batch))):
                await window.acquire(len(batch))
                request = api_pb2.FunctionPutInputsRequest(call_id=call_id, inputs=batch, inputs_complete=item is None)
                await client.stub.FunctionPutInputs(request)
                batch, size = [], 0
            if item is None:
                return


async def check_version(client: Client, app_name: str, version: int | None) -> None:
    """`from_name(version=)`: a deployed app serves its current version only (as the server keeps it)."""
    if version is None:
        return
    current = (await client.stub.AppLookup(api_pb2.AppLookupRequest(name=app_name))).version
    if version != current:
        raise InvalidError(
            f"{app_name} is deployed as v{current}; nano-modal serves only an app's current version, not v{version} "
            f"(`nano-modal app rollback {app_name} v{version}` makes it current again)"
        )


class _Window:
    """Bounds the inputs in flight (sent, not yet answered): backpressure for huge maps."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.changed = asyncio.Event()

    def would_block(self, n: int) -> bool:
        return self.in_flight + n > self.limit

    async def acquire(self, n: int) -> None:
        while self.in_flight > 0 and self.in_flight + n > self.limit:
            self.changed.clear()
            await self.changed.wait()
        self.in_flight += n

    def release(self) -> None:
        self.in_flight -= 1
        self.changed.set()


async def _race(batches: AsyncIterator[Any], feeder: asyncio.Task[None]) -> AsyncIterator[Any]:
    """Yield from `batches`, but fail fast if the feeder task fails (e.g. an unpicklable input)."""
    iterator = batches.__aiter__()
    while True:
        next_batch = asyncio.ensure_future(iterator.__anext__())
        waiting: set[asyncio.Future[Any]] = {next_batch}
        if not feeder.done():
            waiting.add(feeder)
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if feeder.done() and feeder.exception() is not None:
            next_batch.cancel()
            raise feeder.exception()  # type: ignore[misc]
        if not next_batch.done():
            try:
                yield await next_batch
            except StopAsyncIteration:
                return
            continue
        try:
            yield next_batch.result()
        except StopAsyncIteration:
            return


async def _then_set_id(resolving: Awaitable[None], fn: Function, function_id: str) -> None:
    await resolving
    fn.object_id = function_id


def _map_request(function_id: str) -> api_pb2.FunctionMapRequest:
    """A map's call; made from inside a container, the input it runs is its parent (call graphs)."""
    parent = current_input_id() or ""
    return api_pb2.FunctionMapRequest(function_id=function_id, kind=api_pb2.CALL_KIND_MAP, parent_input_id=parent)


def _warn_wrap_returned_exceptions(value: bool | None) -> None:
    if value is not None:  # as in Modal, where it has no effect either
        warnings.warn("wrap_returned_exceptions= has no effect and will go away", DeprecationWarning, stacklevel=4)


def _function_from_id(function_id: str, name: str, is_generator: bool) -> Function:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise InvalidError(f"{name} is a remote reference; call it with .remote()")

    fn = Function(None, unavailable, name, FunctionOptions())
    fn.is_generator = is_generator
    fn.object_id = function_id or None
    return fn
