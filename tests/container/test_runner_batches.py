"""The runner, in-process: a batch of streaming inputs (web requests, generators) taken at once
by a one-at-a-time container answers every input of the batch.

Issue 17's stuck web requests: after a fast input the container takes inputs in batches; a
streaming input flushed the outputs still pending from the one before it, and its own outputs
then went to the discarded list. The input stayed held by a live container that would never
answer it (and never scaled down), until the gateway's 504.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from nano_modal import config
from nano_modal.container.loader import Target
from nano_modal.container.runner import Runner
from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from tests.apps.lifecycle_app import Greeter


class _FakeIO:
    """The container's link to the server: hands out `batches`, then says shut down."""

    container_id = "ta-test"

    def __init__(self, batches: list[list[api_pb2.ContainerInput]]) -> None:
        self.batches = batches
        self.outputs: list[api_pb2.FunctionOutput] = []
        self.lock = threading.Lock()  # generator items are also sent from the streamer's timer thread

    def get_inputs(self, max_inputs: int, timeout: float) -> api_pb2.ContainerGetInputsResponse:
        if not self.batches:
            return api_pb2.ContainerGetInputsResponse(shutdown=True)
        return api_pb2.ContainerGetInputsResponse(inputs=self.batches.pop(0))

    def put_outputs(self, outputs: list[api_pb2.FunctionOutput], released: list[str] | None = None) -> None:
        with self.lock:
            self.outputs.extend(outputs)

    def read_payload(self, payload: api_pb2.Payload) -> bytes:
        return payload.data

    def payload(self, data: bytes) -> api_pb2.Payload:
        return api_pb2.Payload(data=data)


def _countdown(n: int) -> Iterator[int]:
    yield from range(n, 0, -1)


def _web_input(i: int) -> api_pb2.ContainerInput:
    request = {
        "type": "http",
        "method": "GET",
        "body": b"",
        "path": "/",
        "root_path": "/app/Greeter.greet",
        "query_string": f"name=n{i}".encode(),
        "headers": [],
        "client": "127.0.0.1",
    }
    return api_pb2.ContainerInput(
        input_id=f"in-{i}",
        call_id=f"fc-{i}",
        kind=api_pb2.CALL_KIND_GENERATOR,
        args=api_pb2.Payload(data=serialize(((request,), {}))),
        method_name=f"{config.WEB_METHOD}.greet",
    )


def _generator_input(i: int) -> api_pb2.ContainerInput:
    return api_pb2.ContainerInput(
        input_id=f"in-{i}",
        call_id=f"fc-{i}",
        kind=api_pb2.CALL_KIND_GENERATOR,
        args=api_pb2.Payload(data=serialize(((2,), {}))),
    )


def _web_target() -> tuple[api_pb2.FunctionDefinition, Target]:
    definition = api_pb2.FunctionDefinition(name="Greeter", is_class=True)
    method = definition.methods.add(name="greet")
    method.web.kind, method.web.method = "fastapi_endpoint", "GET"
    return definition, Target(definition, Greeter.raw_f)  # type: ignore[attr-defined]


def _generator_target() -> tuple[api_pb2.FunctionDefinition, Target]:
    definition = api_pb2.FunctionDefinition(name="countdown")
    return definition, Target(definition, _countdown)


@pytest.mark.parametrize("kind", ["web", "generator"])
def test_every_streaming_input_of_a_batch_is_answered(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NANO_MODAL_CONTAINER_ID", "ta-test")  # what the Greeter reports
    make: Any = _web_input if kind == "web" else _generator_input
    definition, target = _web_target() if kind == "web" else _generator_target()
    # One input alone, then batches: the container takes several at once after fast inputs.
    io_ = _FakeIO([[make(0)], [make(1), make(2)], [make(3), make(4), make(5)]])
    runner = Runner(io_, definition, target)  # type: ignore[arg-type]
    runner.serve()
    runner.flush()

    finals = {o.input_id: o.status for o in io_.outputs if o.status != api_pb2.OUTPUT_STATUS_GENERATOR_ITEM}
    assert finals == {f"in-{i}": api_pb2.OUTPUT_STATUS_SUCCESS for i in range(6)}
    items = [o.input_id for o in io_.outputs if o.status == api_pb2.OUTPUT_STATUS_GENERATOR_ITEM]
    # Each input streamed its whole answer: a response head and body, or the countdown 2, 1.
    assert all(items.count(f"in-{i}") == 2 for i in range(6)), items


def test_a_responses_last_bytes_travel_with_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway stops waiting for a response at its end part; a client may leave as soon as
    it has the last byte, so that byte must not reach the gateway before the end part does (the
    gateway would take the leaving for a client gone mid-response and cancel the call)."""
    import asyncio

    _, target = _web_target()
    handler = target.resolve(f"{config.WEB_METHOD}.greet")
    request = pickle.loads(_web_input(7).args.data)[0][0]

    async def parts() -> list[Any]:
        return [part async for part in handler(request, None)]

    monkeypatch.setenv("NANO_MODAL_CONTAINER_ID", "ta-test")  # what the Greeter reports
    head, end = asyncio.run(parts())
    assert head["status"] == 200
    assert end["type"] == config.WEB_RESPONSE_END
    assert b'"text":"hello n7"' in end["body"]
