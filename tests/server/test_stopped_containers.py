"""A container the server stops (a scale-down, an eviction, `container stop`) while it runs an
input: the input runs again elsewhere, free of charge, whatever the stop made the container
report (Modal's entrypoint reports KeyboardInterrupt: SIGTERM becomes SIGINT, container/
modal_stop.py). Events in, queue and outputs out; no worker, no container process."""

from __future__ import annotations

import asyncio

from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.control import ControlPlane
from nano_modal.server.state import Call, Container, FunctionRuntime, InputState


def _running_one_input(control: ControlPlane) -> tuple[FunctionRuntime, Container, Call]:
    app_id = control.create_app("stopped", ephemeral=True)
    function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="work"))
    args = api_pb2.Payload(data=serialize(((), {})))
    call = control.start_call(function_id, api_pb2.CALL_KIND_MAP, [api_pb2.FunctionInput(idx=0, args=args)], True)
    fn = control.functions[function_id]
    container = control.place_container(fn)
    assert container is not None
    control.container_hello(container)
    return fn, container, call


def test_a_failure_the_stop_caused_puts_the_input_back_in_the_queue(control: ControlPlane) -> None:
    fn, container, call = _running_one_input(control)

    async def scenario() -> None:
        (item,) = await control.take_inputs(container, 1, 0) or []
        control.stop_container(container)
        interrupted = api_pb2.FunctionOutput(
            input_id=item.input_id, status=api_pb2.OUTPUT_STATUS_FAILURE, exception_repr="KeyboardInterrupt()"
        )
        await control.put_outputs(container, [interrupted], [])
        await control.outputs_written()
        assert [queued.input_id for queued in fn.queue] == [item.input_id]
        assert item.state == InputState.QUEUED
        assert call.num_final == 0

    asyncio.run(scenario())


def test_an_input_held_by_a_stopped_container_runs_again_free(control: ControlPlane) -> None:
    fn, container, call = _running_one_input(control)

    async def scenario() -> None:
        (item,) = await control.take_inputs(container, 1, 0) or []
        control.stop_container(container)
        control.container_exited(container.container_id, 0, "stopped by the server")
        await control.outputs_written()
        assert [queued.input_id for queued in fn.queue] == [item.input_id]
        assert (item.state, item.attempt) == (InputState.QUEUED, 0)
        assert call.num_final == 0

    asyncio.run(scenario())
