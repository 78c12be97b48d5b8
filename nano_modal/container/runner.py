"""Run inputs against the user's code: one at a time, several at once (@concurrent), or in
lists (@batched); stream generator values; report every outcome as an output."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from .. import config
from .._runtime_context import set_current_input
from ..exception import SerializationError
from ..proto import api_pb2
from ..serialization import deserialize, serialize, serialize_exception
from .io import ContainerIO
from .loader import Target
from .log_sync import LogSync
from .watchdog import Watchdog

# A sequential container whose inputs are short asks for as many as it runs in this long (at most
# CONTAINER_MAX_BATCH), judging by the last input, and for the next batch while it runs this one:
# each fetch and each output RPC costs the server ~0.3 ms of CPU, so one per input was 0.65 ms per
# 10 ms input. Inputs longer than half of this (batch_size_for() == 1), the first input (not
# measured yet) and web requests come one at a time with nothing fetched ahead: a slow input held
# here, waiting, is one another container could run now (and a request is answered late). Nor is
# anything fetched ahead of a batch of one (see _serve_sequential).
BATCH_SECONDS = 0.1
OUTPUT_FLUSH_SECONDS = BATCH_SECONDS  # outputs of a batch are sent at least this often
GET_INPUTS_TIMEOUT = 30.0
STREAM_COALESCE_SECONDS = 0.01  # generator values this close together share one RPC


_SDK_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def batch_size_for(seconds_per_input: float) -> int:
    """Inputs to fetch at once when each takes about `seconds_per_input`."""
    if seconds_per_input <= 0:
        return config.CONTAINER_MAX_BATCH
    return max(1, min(config.CONTAINER_MAX_BATCH, int(BATCH_SECONDS / seconds_per_input)))


def _next_batch_size(item: api_pb2.ContainerInput, seconds: float) -> int:
    """How many inputs to fetch at once after `item` took `seconds`; above 1, also fetch ahead."""
    if item.method_name.startswith(config.WEB_METHOD):
        return 1  # a request: never batched nor held ahead
    return batch_size_for(seconds)


def _overlaps_fetch(item: api_pb2.ContainerInput, batch_size: int) -> bool:
    """Whether `item`'s output may travel while the next fetch goes out: it ran too long to be
    batched (`batch_size` 1: a round trip is noise beside it) and is not a web request (answered first)."""
    return batch_size == 1 and not item.method_name.startswith(config.WEB_METHOD)


def _capped(size: int, left: int | None) -> int:
    return size if left is None else min(size, left)


def _ids(upcoming: Future[api_pb2.ContainerGetInputsResponse] | None) -> list[str]:
    """The inputs of a prefetch that has arrived (a timed-out container releases them too)."""
    if upcoming is None or not upcoming.done() or upcoming.exception() is not None:
        return []
    return [item.input_id for item in upcoming.result().inputs]


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop the container's own frames from the top of a traceback: the caller sees only their code."""
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_SDK_DIR):
        tb = tb.tb_next
    return tb


class Runner:
    def __init__(self, io_: ContainerIO, definition: api_pb2.FunctionDefinition, target: Target) -> None:
        self.io = io_
        self.definition = definition
        self.target = target
        self.slots = max(1, definition.max_concurrent_inputs)
        self.watchdog = Watchdog(io_, definition.name, definition.timeout or config.DEFAULT_TIMEOUT)
        self.loop = asyncio.new_event_loop()  # async user code runs here, whichever thread asks
        threading.Thread(target=self.loop.run_forever, name="nano-modal-user-loop", daemon=True).start()
        self.served = 0
        self.pending: list[api_pb2.FunctionOutput] = []
        self.sender = _OutputSender(io_)
        # In flight too: a resend the server already has is answered once, never run twice.
        self.watchdog.unsent = lambda: self.sender.in_flight() + list(self.pending)
        self.last_flush = time.monotonic()
        self.log_sync = LogSync(concurrent=self.slots > 1 or definition.batch_max_size > 1)

    def remaining(self) -> int | None:
        limit = self.definition.max_inputs
        return None if not limit else limit - self.served

    def serve(self) -> None:
        if self.definition.batch_max_size:
            self._serve_batched()
        elif self.slots > 1:
            self._serve_concurrent()
        else:
            self._serve_sequential()

    # ------------------------------------------------------------------ modes

    def _serve_sequential(self) -> None:
        """One input at a time; short ones in batches, the next fetched while this one runs (see
        BATCH_SECONDS), so the container never waits for the server between two batches. The
        server hands a suspect input only to a container that holds nothing, and nothing more
        while it holds one (inputs.py), so a suspect still runs alone."""
        batch_size = 1  # and nothing fetched ahead, until an input shows they are short
        with ThreadPoolExecutor(1, thread_name_prefix="nano-modal-prefetch") as fetcher:
            upcoming: Future[api_pb2.ContainerGetInputsResponse] | None = None
            rest: list[str] = []  # of the batch in hand, the inputs not started yet
            self.watchdog.untouched = lambda: rest + _ids(upcoming)
            while True:
                left = self.remaining()
                if upcoming is not None:
                    response, upcoming = upcoming.result(), None
                elif left is not None and left <= 0:
                    break
                else:  # nothing to overlap the fetch with: asked from here, not the fetcher's thread
                    response = self.io.get_inputs(_capped(batch_size, left), GET_INPUTS_TIMEOUT)
                if response.shutdown:
                    break
                inputs = list(response.inputs)
                rest = [item.input_id for item in inputs]
                after = None if left is None else left - len(inputs)
                # Fetch ahead when the server had several to hand out (a queue is flowing). A lone
                # input (a warm .remote()) answers first: its output goes to the server before the
                # next fetch, which the server would otherwise handle first (+0.1-0.2 ms a call).
                if len(inputs) > 1 and batch_size > 1 and (after is None or after > 0):
                    upcoming = fetcher.submit(self.io.get_inputs, _capped(batch_size, after), GET_INPUTS_TIMEOUT)
                for i, item in enumerate(inputs):
                    rest = rest[1:]
                    started = time.monotonic()
                    # Not `self.pending.extend(self.execute(item))`: that binds the list before a
                    # streaming input's flush() replaces it, and its outputs went to the discarded
                    # one (the input then hung, held by this container, until its caller gave up).
                    outputs = self.execute(item)
                    self.pending.extend(outputs)
                    self.served += 1
                    batch_size = _next_batch_size(item, time.monotonic() - started)
                    if i == len(inputs) - 1 or time.monotonic() - self.last_flush > OUTPUT_FLUSH_SECONDS:
                        # With the next inputs already here (fetched ahead) or an input that ran long
                        # enough that a round trip is noise beside it, the outputs travel while the
                        # next input runs or is fetched: no wait for their durable write (~2 ms a
                        # batch, 3 % of a map of 10 ms inputs). A short lone input's output (a warm
                        # .remote()) still goes before the next fetch.
                        self.flush(wait=upcoming is None and not _overlaps_fetch(item, batch_size))
            self.flush()
            if upcoming is not None:  # shut down, or max_inputs reached, while a fetch was out
                self._release(upcoming)
            self.watchdog.untouched = list

    def _release(self, upcoming: Future[api_pb2.ContainerGetInputsResponse]) -> None:
        """Hand back, unharmed, the inputs of a fetch this container will not run."""
        with contextlib.suppress(Exception):
            ids = [item.input_id for item in upcoming.result().inputs]
            if ids:
                self.io.put_outputs([], released=ids)

    def _serve_concurrent(self) -> None:
        free = threading.Semaphore(self.slots)

        def run(item: api_pb2.ContainerInput) -> None:
            try:
                self.io.put_outputs(self.execute(item))
            finally:
                free.release()

        with ThreadPoolExecutor(self.slots, thread_name_prefix="nano-modal-input") as pool:
            while (left := self.remaining()) is None or left > 0:
                free.acquire()  # wait for at least one slot, then ask for as many as are free
                wanted = 1
                while wanted < self.slots and free.acquire(blocking=False):
                    wanted += 1
                response = self.io.get_inputs(wanted if left is None else min(wanted, left), GET_INPUTS_TIMEOUT)
                for _ in range(wanted - len(response.inputs)):
                    free.release()
                if response.shutdown:
                    return  # leaving the `with` waits for the inputs still running
                for item in response.inputs:
                    self.served += 1
                    pool.submit(run, item)

    def _serve_batched(self) -> None:
        while (left := self.remaining()) is None or left > 0:
            size = self.definition.batch_max_size if left is None else min(self.definition.batch_max_size, left)
            response = self.io.get_inputs(size, GET_INPUTS_TIMEOUT)
            if response.shutdown:
                return
            if response.inputs:
                self.io.put_outputs(self.execute_batch(list(response.inputs)))
                self.served += len(response.inputs)

    def flush(self, wait: bool = True) -> None:
        """Send the outputs in hand after those already on their way; with `wait`, return once
        all are with the server (raising a send's error here, on the runner's thread)."""
        if wait:
            self.sender.wait()  # those on their way first, in order
            if self.pending:  # sent from here: a thread hop would add to every warm call
                self.io.put_outputs(self.pending)
        elif self.pending:
            self.sender.send(self.pending)
        self.pending = []
        self.last_flush = time.monotonic()

    # ------------------------------------------------------------------ one input

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = fn(*args, **kwargs)
        if inspect.iscoroutine(result):
            return asyncio.run_coroutine_threadsafe(result, self.loop).result()
        return result

    def execute(self, item: api_pb2.ContainerInput) -> list[api_pb2.FunctionOutput]:
        """Run one input; returns the outputs still to send (the final one last), which say how
        many sync marks follow the input's prints (log_sync.py)."""
        started = time.perf_counter()
        outputs = self._execute(item)
        if outputs:
            outputs[-1].run_seconds = time.perf_counter() - started  # Function.stats' execution time
        marks = self.log_sync.mark(item.input_id)
        if marks and outputs:
            outputs[-1].log_sync_lines = marks
        return outputs

    def _execute(self, item: api_pb2.ContainerInput) -> list[api_pb2.FunctionOutput]:
        set_current_input(item.input_id, item.call_id)
        self.log_sync.begin(item.call_id)
        self.watchdog.begin(item)
        streamer = _Streamer(self.io)
        try:
            args, kwargs = deserialize(self.io.read_payload(item.args), "arguments")
            if item.method_name.startswith(config.WEB_METHOD):  # a web handler: (request, inbound)
                from .web import WebInbound

                args = (*args, WebInbound(self.io, item.input_id))
            result = self.call(self.target.resolve(item.method_name), args, kwargs)
            if inspect.isgenerator(result) or inspect.isasyncgen(result):
                if item.kind != api_pb2.CALL_KIND_GENERATOR and not item.method_name.startswith(config.WEB_METHOD):
                    # The caller waits for one value: the generator's values would be lost.
                    raise TypeError(
                        f"{self._name(item)} returned a generator object, but it is not a generator function:"
                        " use `yield` in it (and call it with .remote_gen()), or return a list"
                    )
                self.stream(item, result, streamer)
                result = None
            return [*streamer.drain(), self._success(item, result)]
        except Exception as exc:
            return [*streamer.drain(), self._failure(item, exc)]
        finally:
            self.watchdog.end(item.input_id)
            self.log_sync.end(item.call_id)
            set_current_input(None, None)
            sys.stdout.flush()
            sys.stderr.flush()

    def execute_batch(self, items: list[api_pb2.ContainerInput]) -> list[api_pb2.FunctionOutput]:
        """@batched: call once with a list per parameter, then hand each caller its own result."""
        for item in items:
            self.watchdog.begin(item)
        try:
            fn = self.target.resolve(items[0].method_name)
            signature = inspect.signature(fn)
            columns: dict[str, list[Any]] = {name: [] for name in signature.parameters}
            for item in items:
                args, kwargs = deserialize(self.io.read_payload(item.args), "arguments")
                for name, value in signature.bind(*args, **kwargs).arguments.items():
                    columns[name].append(value)
            results = self.call(fn, (), {k: v for k, v in columns.items() if v})
            if not isinstance(results, list) or len(results) != len(items):
                got = len(results) if isinstance(results, list) else type(results).__name__
                name = self.definition.name
                raise TypeError(f"batched function {name} must return a list of {len(items)} results, got {got}")
            return [self._success(item, value) for item, value in zip(items, results, strict=True)]
        except Exception as exc:
            return [self._failure(item, exc) for item in items]
        finally:
            for item in items:
                self.watchdog.end(item.input_id)
            sys.stdout.flush()

    def _name(self, item: api_pb2.ContainerInput) -> str:
        """The function (or Class.method) that ran `item`, as the user wrote it."""
        method = item.method_name
        return (
            f"{self.definition.name}.{method}"
            if method and not method.startswith(config.WEB_METHOD)
            else self.definition.name
        )

    def _success(self, item: api_pb2.ContainerInput, value: Any) -> api_pb2.FunctionOutput:
        try:
            data = serialize(value)
        except Exception as exc:
            raise SerializationError(
                f"{self._name(item)} returned a {type(value).__name__} that cannot be pickled: {exc}"
            ) from exc
        return api_pb2.FunctionOutput(
            input_id=item.input_id,
            idx=item.idx,
            status=api_pb2.OUTPUT_STATUS_SUCCESS,
            data=self.io.payload(data),
        )

    def _failure(self, item: api_pb2.ContainerInput, exc: Exception) -> api_pb2.FunctionOutput:
        exc.__traceback__ = _user_frames(exc.__traceback__)
        data, text, tb = serialize_exception(exc)
        return api_pb2.FunctionOutput(
            input_id=item.input_id,
            idx=item.idx,
            status=api_pb2.OUTPUT_STATUS_FAILURE,
            data=self.io.payload(data),
            exception_repr=text,
            traceback=tb,
        )

    def stream(self, item: api_pb2.ContainerInput, gen: Any, streamer: _Streamer) -> None:
        """Pass each yielded value on as it is produced (values close together travel together)."""
        self.flush()

        def send(value: Any) -> None:
            output = api_pb2.FunctionOutput(
                input_id=item.input_id,
                idx=item.idx,
                status=api_pb2.OUTPUT_STATUS_GENERATOR_ITEM,
                data=self.io.payload(serialize(value)),
            )
            streamer.add(output)

        if inspect.isasyncgen(gen):
            while True:
                try:
                    send(asyncio.run_coroutine_threadsafe(gen.__anext__(), self.loop).result())
                except StopAsyncIteration:
                    return
        for value in gen:
            send(value)


class _OutputSender:
    """Sends batches of outputs in order on a thread of its own, so the runner need not wait for
    each to be written. A send that failed (the link's own retries exhausted) is raised by the
    next send() or wait() on the runner's thread, which ends the container as a failed put did
    before: the server then runs its held inputs again."""

    def __init__(self, io_: ContainerIO) -> None:
        self.io = io_
        self.lock = threading.Lock()
        self.queued: list[list[api_pb2.FunctionOutput]] = []  # handed over, not yet sent, in order
        self.thread: ThreadPoolExecutor | None = None  # started on the first send
        self.last: Future[None] | None = None
        self.error: BaseException | None = None

    def send(self, outputs: list[api_pb2.FunctionOutput]) -> None:
        self._raise()
        with self.lock:
            self.queued.append(outputs)
            if self.thread is None:
                self.thread = ThreadPoolExecutor(1, thread_name_prefix="nano-modal-outputs")
            self.last = self.thread.submit(self._put, outputs)

    def _put(self, outputs: list[api_pb2.FunctionOutput]) -> None:
        try:
            if self.error is None:  # after a failure nothing more goes: the container is ending
                self.io.put_outputs(outputs)
        except BaseException as exc:
            self.error = exc
        finally:
            with self.lock:
                self.queued.pop(0)  # one thread sends them in the order they were queued

    def wait(self) -> None:
        """Return once every batch handed over is sent; raise if one could not be."""
        last, self.last = self.last, None
        if last is not None:
            last.result()  # batches go in order: the last one done means all are
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def in_flight(self) -> list[api_pb2.FunctionOutput]:
        with self.lock:
            return [output for outputs in self.queued for output in outputs]


class _Streamer:
    """Buffers generator outputs for at most STREAM_COALESCE_SECONDS, so that a burst of values
    (an HTTP response's start and body, say) costs one RPC while a slow stream still flows."""

    def __init__(self, io_: ContainerIO) -> None:
        self.io = io_
        self.lock = threading.Lock()
        self.buffer: list[api_pb2.FunctionOutput] = []
        self.timer: threading.Timer | None = None

    def add(self, output: api_pb2.FunctionOutput) -> None:
        with self.lock:
            self.buffer.append(output)
            if self.timer is None:
                self.timer = threading.Timer(STREAM_COALESCE_SECONDS, self._flush)
                self.timer.daemon = True
                self.timer.start()

    def _flush(self) -> None:
        with self.lock:
            batch, self.buffer, self.timer = self.buffer, [], None
            if batch:  # sent under the lock: order is kept against drain()
                self.io.put_outputs(batch)

    def drain(self) -> list[api_pb2.FunctionOutput]:
        """What is still buffered, for the caller to send with the final output."""
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
            batch, self.buffer, self.timer = self.buffer, [], None
            return batch
