"""Blocking and `.aio` twins of the SDK's async methods.

The SDK is written once, as coroutines that run on one background event loop (where the
gRPC channel lives). `@twin` turns such a method into a callable that blocks the caller,
with an `.aio` attribute for callers that are themselves async:

    result = f.remote(1)            # blocking
    result = await f.remote.aio(1)  # async
"""

from __future__ import annotations

import asyncio
import inspect
import os
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The SDK's event loop, started on first use in a daemon thread."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="nano-modal-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def _forget_loop_in_child() -> None:
    """A forked child has no copy of the loop's thread: it starts its own on first use (a
    `multiprocessing` fork Pool whose workers call `.remote()` waited on the parent's loop
    forever)."""
    global _loop, _lock
    _loop, _lock = None, threading.Lock()  # the lock may have been held by another thread at the fork


os.register_at_fork(after_in_child=_forget_loop_in_child)


def background_loop_running() -> bool:
    """Whether the SDK's loop was started and still runs (at exit: whether work can go on it)."""
    return _loop is not None and _loop.is_running()


def in_background_loop() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the background loop and wait for its result in this thread."""
    if in_background_loop():
        coro.close()
        raise RuntimeError("blocking nano-modal call made from inside the SDK's own event loop; use .aio")
    return asyncio.run_coroutine_threadsafe(coro, background_loop()).result()


async def run_in_background(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` on the background loop from any other event loop."""
    if in_background_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, background_loop()))


READ_AHEAD = 10_000  # items an async iterator may run ahead of its blocking consumer
_END = object()


def iterate_blocking(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator that lives on the background loop from a normal thread.

    A task on the loop pumps items into a thread-safe queue, so each item costs a queue hop
    (~µs) instead of a cross-thread round trip per item (~150 µs); it runs at most
    READ_AHEAD items ahead of the consumer.
    """
    loop = background_loop()
    items: queue.SimpleQueue[Any] = queue.SimpleQueue()
    produced = consumed = 0  # each written by one thread only
    room = threading.Event()  # set by the consumer when the pump may go on
    room.set()

    async def pump() -> None:
        nonlocal produced
        try:
            async for item in agen:
                items.put(item)
                produced += 1
                if produced - consumed >= READ_AHEAD:
                    room.clear()
                    if produced - consumed >= READ_AHEAD:  # the consumer may have caught up meanwhile
                        await asyncio.to_thread(room.wait)
            items.put(_END)
        except BaseException as exc:
            items.put(_Failure(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()

    task = asyncio.run_coroutine_threadsafe(pump(), loop)
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            consumed += 1
            if not room.is_set() and produced - consumed < READ_AHEAD // 2:
                room.set()
            yield item
    finally:
        if not task.done():
            task.cancel()
            room.set()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def iterate_in_background(agen: AsyncIterator[T]) -> AsyncIterator[T]:
    try:
        while True:
            try:
                yield await run_in_background(_anext(agen))
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await run_in_background(aclose())


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


# Returned by a twin's fast path to decline: the call then takes the usual way, on the SDK's loop.
NOT_NOW: Any = type("NotNow", (), {"__repr__": lambda self: "NOT_NOW"})()


class _BoundTwin(Generic[T]):
    def __init__(self, impl: Callable[..., Any], owner: Any, fast: Callable[..., Any] | None = None) -> None:
        self._impl = impl
        self._owner = owner
        self._fast = fast
        self.__doc__ = impl.__doc__
        self.__name__ = impl.__name__
        self.__wrapped__ = impl  # inspect.signature and help() show the method's real parameters

    def _start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._impl(self._owner, *args, **kwargs) if self._owner is not None else self._impl(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._fast is not None and not in_background_loop():
            try:
                result = self._fast(self._owner, *args, **kwargs)
            except Exception as exc:
                raise exc.with_traceback(None)  # noqa: B904
            if result is not NOT_NOW:
                return result
        started = self._start(args, kwargs)
        if inspect.isasyncgen(started):
            return iterate_blocking(started)
        try:
            return run_blocking(started)
        except Exception as exc:
            # The SDK's own frames (event loop, futures) say nothing to the user: start the
            # traceback at their call. A remote traceback, if any, is in the exception's notes.
            raise exc.with_traceback(None)  # noqa: B904

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        started = self._start(args, kwargs)
        if inspect.isasyncgen(started):
            return iterate_in_background(started)
        return run_in_background(started)


class twin(Generic[T]):
    """Descriptor: an `async def` (or async generator) method that callers can also block on.

    A blocking call hops to the SDK's loop and back (~150 µs of CPU here). A twin may have a
    fast path for its blocking form (`@method.fast`): plain code on the caller's thread that
    returns the result, or NOT_NOW to take the usual way (e.g. no fast lane to the server)."""

    def __init__(self, impl: Callable[..., Awaitable[T]] | Callable[..., AsyncIterator[T]]) -> None:
        self._impl = impl
        self._fast: Callable[..., Any] | None = None
        self.__doc__ = impl.__doc__

    def fast(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register `fn(owner, *args, **kwargs)` as the blocking form's fast path."""
        self._fast = fn
        return fn

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> _BoundTwin[T]:
        return _BoundTwin(self._impl, obj, self._fast)


class class_twin(twin[T]):
    """`twin` for an async classmethod (`Client.from_env()`): the class is its first argument."""

    def __get__(self, obj: Any, objtype: type | None = None) -> _BoundTwin[T]:
        return _BoundTwin(self._impl, objtype if objtype is not None else type(obj), self._fast)
