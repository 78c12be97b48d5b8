"""The container's main loop: hello, load the function, then get inputs / run / put outputs.

Inputs arrive in batches (bigger when the function is fast); each runs under a watchdog
that enforces the function's `timeout`. On a timeout the container reports it, hands its
untouched inputs back and exits, so that the next input gets a fresh container.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import os
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import config
from .._runtime_context import set_current_input
from ..proto import api_pb2
from ..serialization import deserialize, serialize, serialize_exception
from .io import ContainerIO

FAST_INPUT_SECONDS = 0.005  # inputs quicker than this are fetched in batches
OUTPUT_FLUSH_SECONDS = 0.05  # outputs of a batch are sent at least this often
GET_INPUTS_TIMEOUT = 30.0


def load_function(io_: ContainerIO, definition: api_pb2.FunctionDefinition) -> Callable[..., Any]:
    if definition.pickled_blob_id:
        return deserialize(io_.read_blob(definition.pickled_blob_id), f"function {definition.name}")  # type: ignore[no-any-return]
    if definition.source_blob_id:
        src = Path.cwd() / "src"
        src.mkdir(exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(io_.read_blob(definition.source_blob_id)), mode="r:gz") as tar:
            tar.extractall(src, filter="data")
        sys.path.insert(0, str(src))
    module = importlib.import_module(definition.module_name)
    obj: Any = module
    for part in definition.name.split("."):
        obj = getattr(obj, part)
    raw = getattr(obj, "raw_f", None)  # a nano_modal Function wraps the user's function
    return raw if callable(raw) else obj  # type: ignore[no-any-return]


class Watchdog:
    """Kills the container when one input runs past the function's timeout."""

    def __init__(self, io_: ContainerIO, name: str, timeout: float) -> None:
        self.io = io_
        self.name = name
        self.timeout = timeout
        self.lock = threading.Lock()
        self.current: api_pb2.ContainerInput | None = None
        self.deadline = 0.0
        self.untouched: list[str] = []
        threading.Thread(target=self._watch, name="nano-modal-watchdog", daemon=True).start()

    def begin(self, item: api_pb2.ContainerInput, untouched: list[str]) -> None:
        with self.lock:
            self.current, self.deadline, self.untouched = item, time.monotonic() + self.timeout, untouched

    def end(self) -> None:
        with self.lock:
            self.current = None

    def _watch(self) -> None:
        while True:
            time.sleep(0.05)
            with self.lock:
                item = self.current
                expired = item is not None and time.monotonic() > self.deadline
                untouched = list(self.untouched)
            if item is None or not expired:
                continue
            message = f"{self.name} timed out after {self.timeout:g}s (its timeout)"
            output = api_pb2.FunctionOutput(
                input_id=item.input_id, idx=item.idx, status=api_pb2.OUTPUT_STATUS_TIMEOUT, exception_repr=message
            )
            try:
                self.io.put_outputs([output], released=untouched)
            finally:
                os._exit(1)


def heartbeat_forever(io_: ContainerIO, watchdog: Watchdog) -> None:
    """Tell the server this container is alive, even while an input runs for a long time."""
    while True:
        time.sleep(config.CONTAINER_HEARTBEAT_INTERVAL)
        current = watchdog.current
        request = api_pb2.ContainerHeartbeatRequest(
            container_id=io_.container_id, running_input_ids=[current.input_id] if current else []
        )
        try:
            io_.call("ContainerHeartbeat", request, timeout=10)
        except Exception as exc:  # the server may be restarting; the worker notices real deaths
            print(f"nano-modal: heartbeat failed: {exc}", file=sys.stderr)


class Runner:
    def __init__(self, io_: ContainerIO, hello: api_pb2.ContainerHelloResponse, fn: Callable[..., Any]) -> None:
        self.io = io_
        self.definition = hello.definition
        self.fn = fn
        self.loop = asyncio.new_event_loop() if hello.definition.is_async else None
        timeout = hello.definition.timeout or config.DEFAULT_TIMEOUT
        self.watchdog = Watchdog(io_, hello.definition.name, timeout)
        threading.Thread(
            target=heartbeat_forever, args=(io_, self.watchdog), name="nano-modal-heartbeat", daemon=True
        ).start()
        self.pending: list[api_pb2.FunctionOutput] = []
        self.last_flush = time.monotonic()
        self.served = 0

    def serve(self) -> None:
        batch_size = 1
        limit = self.definition.max_inputs
        while not limit or self.served < limit:
            want = batch_size if not limit else min(batch_size, limit - self.served)
            response = self.io.get_inputs(want, GET_INPUTS_TIMEOUT)
            if response.shutdown:
                return
            inputs = list(response.inputs)
            for i, item in enumerate(inputs):
                started = time.monotonic()
                self.watchdog.begin(item, [x.input_id for x in inputs[i + 1 :]])
                self.run_one(item)
                self.watchdog.end()
                self.served += 1
                batch_size = config.CONTAINER_MAX_BATCH if time.monotonic() - started < FAST_INPUT_SECONDS else 1
                if i == len(inputs) - 1 or time.monotonic() - self.last_flush > OUTPUT_FLUSH_SECONDS:
                    self.flush()

    def flush(self) -> None:
        if self.pending:
            self.io.put_outputs(self.pending)
            self.pending = []
        self.last_flush = time.monotonic()

    def run_one(self, item: api_pb2.ContainerInput) -> None:
        set_current_input(item.input_id, item.call_id)
        try:
            args, kwargs = deserialize(self.io.read_payload(item.args), "arguments")
            result = self.fn(*args, **kwargs)
            if inspect.isgenerator(result) or inspect.isasyncgen(result):
                self.stream(item, result)
                result = None
            elif inspect.iscoroutine(result):
                assert self.loop is not None
                result = self.loop.run_until_complete(result)
            data = self.io.payload(serialize(result))
            self.pending.append(
                api_pb2.FunctionOutput(
                    input_id=item.input_id, idx=item.idx, status=api_pb2.OUTPUT_STATUS_SUCCESS, data=data
                )
            )
        except Exception as exc:
            exc.__traceback__ = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this frame
            data_bytes, text, tb = serialize_exception(exc)
            self.pending.append(
                api_pb2.FunctionOutput(
                    input_id=item.input_id,
                    idx=item.idx,
                    status=api_pb2.OUTPUT_STATUS_FAILURE,
                    data=self.io.payload(data_bytes),
                    exception_repr=text,
                    traceback=tb,
                )
            )
        finally:
            set_current_input(None, None)
            sys.stdout.flush()
            sys.stderr.flush()

    def stream(self, item: api_pb2.ContainerInput, gen: Any) -> None:
        """Send each yielded value as soon as it exists."""
        self.flush()

        def send(value: Any) -> None:
            self.io.put_outputs(
                [
                    api_pb2.FunctionOutput(
                        input_id=item.input_id,
                        idx=item.idx,
                        status=api_pb2.OUTPUT_STATUS_GENERATOR_ITEM,
                        data=self.io.payload(serialize(value)),
                    )
                ]
            )

        if inspect.isasyncgen(gen):
            loop = self.loop or asyncio.new_event_loop()

            async def drain() -> None:
                async for value in gen:
                    send(value)

            loop.run_until_complete(drain())
        else:
            for value in gen:
                send(value)


def main() -> None:
    io_ = ContainerIO()
    hello = io_.hello()
    try:
        fn = load_function(io_, hello.definition)
        if hello.definition.is_async and not inspect.iscoroutinefunction(fn) and not inspect.isasyncgenfunction(fn):
            raise TypeError(f"{hello.definition.name} was registered as async but is not")
    except BaseException as exc:
        data, text, tb = serialize_exception(exc)
        print(f"nano-modal: could not load {hello.definition.name}:\n{tb}", file=sys.stderr, flush=True)
        io_.call(
            "ContainerInitFailed",
            api_pb2.ContainerInitFailedRequest(
                container_id=io_.container_id,
                exception=io_.payload(data),
                exception_repr=text,
                traceback=tb,
            ),
        )
        sys.exit(1)
    from ..app import hydrate_in_container

    hydrate_in_container(dict(hello.app_function_ids))
    runner = Runner(io_, hello, fn)
    runner.serve()
    runner.flush()
