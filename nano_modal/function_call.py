"""`FunctionCall`, and how a call's outputs are read back: in cursor order, decoded, a failure
told apart from a returned exception object."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import config
from ._logs import LogsManager
from ._utils.aio import twin
from .client import Client, client_of
from .exception import (
    ContainerDiedError,
    ExecutionError,
    FunctionTimeoutError,
    InputCancellation,
    InvalidError,
    TimeoutError,
)
from .proto import api_pb2
from .serialization import deserialize, deserialize_plain, plain_exception, rebuild_exception

if TYPE_CHECKING:
    from .types import InputInfo

log = logging.getLogger("nano_modal")


class Raised:
    """A call that failed, carrying the exception to raise at the caller. A wrapper, because a
    function may also *return* an exception object, which the caller gets returned (as in Modal)."""

    __slots__ = ("exception",)

    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


def decode_output(output: api_pb2.FunctionOutput, data: bytes, function_name: str, plain: bool = False) -> Any:
    """The value an output stands for, or Raised(the exception it carries).
    `plain`: the function's code is not trusted, so its output is decoded as plain data only."""
    status = output.status
    if status in (api_pb2.OUTPUT_STATUS_SUCCESS, api_pb2.OUTPUT_STATUS_GENERATOR_ITEM):
        what = f"result of {function_name}()"
        return deserialize_plain(data, what) if plain else deserialize(data, what)
    if status in (api_pb2.OUTPUT_STATUS_FAILURE, api_pb2.OUTPUT_STATUS_INIT_FAILURE):
        if plain:
            return Raised(plain_exception(output.exception_repr, output.traceback))
        return Raised(rebuild_exception(data, output.exception_repr, output.traceback))
    if status == api_pb2.OUTPUT_STATUS_TIMEOUT:
        return Raised(FunctionTimeoutError(output.exception_repr))
    if status == api_pb2.OUTPUT_STATUS_CANCELLED:
        return Raised(InputCancellation(f"{function_name}: {output.exception_repr}"))
    if status == api_pb2.OUTPUT_STATUS_CONTAINER_DIED:
        return Raised(ContainerDiedError(output.exception_repr))
    return Raised(ExecutionError(f"{function_name}: unknown output status {status}"))


class _OutputStream:
    """Reads a call's outputs in cursor order, decoding payloads."""

    def __init__(self, client: Client, call_id: str, function_name: str, cursor: int = 0, plain: bool = False) -> None:
        self.client = client
        self.call_id = call_id
        self.function_name = function_name
        self.cursor = cursor
        self.plain = plain  # decode as plain data only (untrusted code: serialization.py)

    async def decode(self, output: api_pb2.FunctionOutput) -> Any:
        data = await self.client.read_payload(output.data) if output.data.blob_id or output.data.data else b""
        return decode_output(output, data, self.function_name, self.plain)

    async def batches(self, timeout: float | None = None) -> AsyncIterator[list[api_pb2.FunctionOutput]]:
        """Yield batches of outputs until the call is done; TimeoutError after `timeout` seconds of none."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wait = (
                config.OUTPUTS_POLL_TIMEOUT
                if deadline is None
                else max(0.0, min(deadline - loop.time(), config.OUTPUTS_POLL_TIMEOUT))
            )
            request = api_pb2.FunctionGetOutputsRequest(
                call_id=self.call_id, after_cursor=self.cursor, max_outputs=1000, timeout=wait
            )
            response = await self.client.stub.FunctionGetOutputs(request, timeout=wait + config.CONNECT_TIMEOUT * 2)
            if response.outputs:
                self.cursor = response.next_cursor
                yield list(response.outputs)
                if deadline is not None:
                    deadline = loop.time() + timeout  # type: ignore[operator]
            if response.call_done:
                return
            if deadline is not None and loop.time() >= deadline and not response.outputs:
                raise TimeoutError(f"{self.function_name}: no result within {timeout:g}s (call {self.call_id})")


def _is_final(output: api_pb2.FunctionOutput) -> bool:
    return output.status != api_pb2.OUTPUT_STATUS_GENERATOR_ITEM


def _raise_or_return(value: Any) -> Any:
    if isinstance(value, Raised):
        raise value.exception
    return value


async def _cancel_quietly(client: Client, call_id: str) -> None:
    with contextlib.suppress(Exception):
        await asyncio.shield(
            client.stub.FunctionCallCancel(api_pb2.FunctionCallCancelRequest(call_id=call_id), timeout=5)
        )


class FunctionCall:
    """A handle on a spawned call: wait for it with `.get()`, stop it with `.cancel()`."""

    object_id: str  # the call's id: FunctionCall.from_id(object_id) in another process

    def __init__(
        self,
        call_id: str,
        function_name: str = "",
        is_generator: bool = False,
        is_map: bool = False,
        plain: bool = False,
    ) -> None:
        self.object_id = call_id
        self._function_name = function_name or "function"
        self._is_map = is_map
        # Spawned from a restrict_modal_access function: plain data only. A handle from_id does
        # not know its function: it trusts the result as the default path does (docs/SECURITY.md).
        self._plain = plain

    @property
    def client(self) -> Client:
        """The client that hydrated this handle; AttributeError before it is hydrated."""
        return client_of(self, True)

    def __repr__(self) -> str:
        return f"<nano_modal.FunctionCall {self.object_id}>"

    @property
    def logs(self) -> LogsManager:
        """What this call printed (`call.logs.tail(100)`, `.fetch(since=)`, `.stream()`): the lines
        its containers wrote through sys.stdout/sys.stderr while running its inputs."""
        return LogsManager(self._app_and_id, keep=lambda line, call_id: line.call_id == call_id)

    async def _app_and_id(self) -> tuple[str, str]:
        client = await Client.get()
        info = await client.stub.FunctionCallGet(api_pb2.FunctionCallGetRequest(call_id=self.object_id))
        return info.app_id, self.object_id

    @staticmethod
    def from_id(function_call_id: str) -> FunctionCall:
        """A handle on an existing call, e.g. one spawned by another process."""
        return FunctionCall(function_call_id)

    async def _describe(self, client: Client) -> None:
        info = await client.stub.FunctionCallGet(api_pb2.FunctionCallGetRequest(call_id=self.object_id))
        self._function_name = info.function_name
        self._is_map = info.kind == api_pb2.CALL_KIND_MAP

    @twin
    async def get(self, timeout: float | None = None, *, index: int | None = None) -> Any:
        """Wait for the result (up to `timeout` seconds; TimeoutError after that) and return it.

        For a `spawn_map` call: the list of results, or with `index=`, that input's result alone."""
        client = await Client.get()
        await self._describe(client)
        stream = _OutputStream(client, self.object_id, self._function_name, plain=self._plain)
        results: dict[int, Any] = {}
        async for batch in stream.batches(timeout=timeout):
            for output in batch:
                if _is_final(output) and (index is None or output.idx == index):
                    results[output.idx] = _raise_or_return(await stream.decode(output))
        if index is not None:
            if index not in results:
                raise InvalidError(f"call {self.object_id} has no input {index}")
            return results[index]
        if self._is_map:
            return [results[i] for i in sorted(results)]
        return results.get(0)

    @twin
    async def hydrate(self) -> FunctionCall:
        """Check the call exists, and learn what kind it is, now."""
        await self._describe(await Client.get())
        return self

    @twin
    async def iter(self, *, start: int = 0, end: int | None = None) -> AsyncIterator[Any]:
        """The results of a `spawn_map` call in input order, as each becomes available: inputs
        `start` (inclusive) to `end` (exclusive; None for all)."""
        client = await Client.get()
        await self._describe(client)
        if not self._is_map:
            raise InvalidError("FunctionCall.iter() is for calls made with spawn_map(); use get()")
        stream = _OutputStream(client, self.object_id, self._function_name, plain=self._plain)
        ready: dict[int, Any] = {}
        wanted = start
        async for batch in stream.batches():
            for output in batch:
                if _is_final(output) and output.idx >= start and (end is None or output.idx < end):
                    ready[output.idx] = await stream.decode(output)
            while wanted in ready:
                yield _raise_or_return(ready.pop(wanted))
                wanted += 1
            if end is not None and wanted >= end:
                return

    @twin
    async def num_inputs(self) -> int:
        """How many inputs the call has: 1 for spawn(), one per element for spawn_map()."""
        client = await Client.get()
        await self._describe(client)
        if not self._is_map:
            return 1
        finished, cursor = 0, 0
        while True:  # every input has a final output, or is pending (num_pending)
            request = api_pb2.FunctionGetOutputsRequest(
                call_id=self.object_id, after_cursor=cursor, max_outputs=1000, timeout=0
            )
            response = await client.stub.FunctionGetOutputs(request, timeout=config.CONNECT_TIMEOUT * 2)
            finished += sum(1 for output in response.outputs if _is_final(output))
            cursor = response.next_cursor
            if not response.outputs:
                return finished + int(response.num_pending)

    @twin
    async def get_call_graph(self) -> list[InputInfo]:
        """The inputs of the tree of calls this call is part of, from its root: each input's
        `children` are the inputs of the calls its code made (from inside its container)."""
        from ._stats import call_graph_tree

        client = await Client.get()
        request = api_pb2.FunctionCallGraphRequest(call_id=self.object_id)
        graph = await client.stub.FunctionGetCallGraph(request)
        if graph.truncated:
            log.warning("the call graph of %s was truncated to its first %d inputs", self.object_id, len(graph.inputs))
        return call_graph_tree(graph)

    @twin
    async def gather(*function_calls: FunctionCall) -> list[Any]:
        """Wait for every call and return their results in order; the first failure is raised
        (and the calls still running are cancelled)."""
        waits = [asyncio.ensure_future(call.get.aio()) for call in function_calls]
        try:
            return list(await asyncio.gather(*waits))
        except BaseException:
            for call, wait in zip(function_calls, waits, strict=True):
                if not wait.done():
                    wait.cancel()
                    client = await Client.get()
                    await _cancel_quietly(client, call.object_id)
            raise

    @twin
    async def cancel(self, terminate_containers: bool = False) -> None:
        """Stop the call: queued inputs are dropped, running ones are killed with their containers
        (always: `terminate_containers` is accepted for Modal compatibility)."""
        del terminate_containers
        client = await Client.get()
        await client.stub.FunctionCallCancel(api_pb2.FunctionCallCancelRequest(call_id=self.object_id))
