"""A container asks for its next inputs while it runs the current ones (container/runner.py
prefetches): a suspect input still runs alone, and a parked prefetch learns when it may take one.
Events in (takes, outputs), hand-outs out; no worker, no container process."""

from __future__ import annotations

import asyncio

from nano_modal import config
from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.control import ControlPlane
from nano_modal.server.state import Container

WAIT = 30.0  # generous: the hand-outs below come from events, not from the clock


def _function_with_inputs(control: ControlPlane, n: int) -> tuple[str, Container]:
    app_id = control.create_app("prefetch", ephemeral=True)
    function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="work", max_containers=1))
    args = api_pb2.Payload(data=serialize(((), {})))
    control.start_call(
        function_id, api_pb2.CALL_KIND_MAP, [api_pb2.FunctionInput(idx=i, args=args) for i in range(n)], True
    )
    container = control.place_container(control.functions[function_id])
    assert container is not None
    control.container_hello(container)
    return function_id, container


def _done(item_id: str) -> api_pb2.FunctionOutput:
    return api_pb2.FunctionOutput(input_id=item_id, status=api_pb2.OUTPUT_STATUS_SUCCESS)


def test_a_container_running_a_suspect_gets_nothing_more_until_it_finishes(control: ControlPlane) -> None:
    function_id, container = _function_with_inputs(control, 3)
    fn = control.functions[function_id]
    fn.queue[0].suspect = True

    async def scenario() -> None:
        (suspect,) = await control.take_inputs(container, 5, 0) or []
        assert suspect.suspect
        assert await control.take_inputs(container, 5, 0) == []  # its prefetch: nothing while the suspect runs
        prefetch = asyncio.create_task(control.take_inputs(container, 5, WAIT))
        await asyncio.sleep(0)
        assert not prefetch.done()
        await control.put_outputs(container, [_done(suspect.input_id)], [])
        taken = await asyncio.wait_for(prefetch, WAIT)
        assert taken is not None and len(taken) == 2 and not any(item.suspect for item in taken)

    asyncio.run(scenario())


def test_a_parked_prefetch_takes_a_suspect_once_its_container_is_empty(control: ControlPlane) -> None:
    function_id, container = _function_with_inputs(control, 2)
    fn = control.functions[function_id]

    async def scenario() -> None:
        (first,) = await control.take_inputs(container, 1, 0) or []
        fn.queue[0].suspect = True  # (it was out in a container that died)
        prefetch = asyncio.create_task(control.take_inputs(container, 5, WAIT))
        await asyncio.sleep(0)
        assert not prefetch.done()  # the suspect waits for an empty container
        await control.put_outputs(container, [_done(first.input_id)], [])
        taken = await asyncio.wait_for(prefetch, WAIT)
        assert taken is not None and [item.suspect for item in taken] == [True]

    asyncio.run(scenario())


def _timed_out(item_id: str) -> api_pb2.FunctionOutput:
    return api_pb2.FunctionOutput(input_id=item_id, status=api_pb2.OUTPUT_STATUS_TIMEOUT, exception_repr="late")


def test_a_container_that_timed_out_takes_nothing_more(control: ControlPlane) -> None:
    """Its watchdog reports the timeout, hands back the input it had not started, then exits: its
    parked prefetch took that input straight back, and the exit failed it (ContainerDiedError)."""
    function_id, container = _function_with_inputs(control, 2)
    fn = control.functions[function_id]

    async def scenario() -> None:
        slow, waiting = await control.take_inputs(container, 2, 0) or []
        prefetch = asyncio.create_task(control.take_inputs(container, 5, WAIT))
        await asyncio.sleep(0)
        await control.put_outputs(container, [_timed_out(slow.input_id)], [waiting.input_id])
        assert await asyncio.wait_for(prefetch, WAIT) is None  # shut down: it is exiting
        assert [item.input_id for item in fn.queue] == [waiting.input_id]

    asyncio.run(scenario())
    control.container_exited(container.container_id, 1, "")
    assert [(item.attempt, item.suspect) for item in fn.queue] == [(0, False)]


def test_an_input_fetched_ahead_runs_again_free_after_a_timeout(control: ControlPlane) -> None:
    """A prefetch answered just before the timeout, the answer still on its way: the container
    exits holding that input, which it never started."""
    function_id, container = _function_with_inputs(control, 2)
    fn = control.functions[function_id]

    async def scenario() -> None:
        (slow,) = await control.take_inputs(container, 1, 0) or []
        assert len(await control.take_inputs(container, 1, 0) or []) == 1  # the prefetch
        await control.put_outputs(container, [_timed_out(slow.input_id)], [])

    asyncio.run(scenario())
    control.container_exited(container.container_id, 1, "")
    assert [(item.attempt, item.suspect) for item in fn.queue] == [(0, False)]
    assert control.store.count_final_outputs(fn.queue[0].call_id) == 1  # the timeout's only


def test_a_cancelled_calls_container_hands_back_another_calls_input_unharmed(control: ControlPlane) -> None:
    function_id, container = _function_with_inputs(control, 1)
    fn = control.functions[function_id]
    args = api_pb2.Payload(data=serialize(((), {})))
    other = control.start_call(function_id, api_pb2.CALL_KIND_REMOTE, [api_pb2.FunctionInput(idx=0, args=args)], True)

    async def scenario() -> None:
        (doomed,) = await control.take_inputs(container, 1, 0) or []
        assert len(await control.take_inputs(container, 1, 0) or []) == 1  # the prefetch: the other call's
        control.cancel_call(doomed.call_id)

    asyncio.run(scenario())
    control.container_exited(container.container_id, -9, "stopped")
    assert [(item.call_id, item.attempt, item.suspect) for item in fn.queue] == [(other.call_id, 0, False)]


def test_a_web_request_waits_for_an_empty_sequential_container(control: ControlPlane) -> None:
    function_id, container = _function_with_inputs(control, 1)
    args = api_pb2.Payload(data=serialize(((), {})))
    request = api_pb2.FunctionInput(idx=0, args=args, method_name=config.WEB_METHOD)
    control.start_call(function_id, api_pb2.CALL_KIND_GENERATOR, [request], True)

    async def scenario() -> None:
        (first,) = await control.take_inputs(container, 1, 0) or []
        assert await control.take_inputs(container, 5, 0) == []  # not held behind the running input
        prefetch = asyncio.create_task(control.take_inputs(container, 5, WAIT))
        await asyncio.sleep(0)
        await control.put_outputs(container, [_done(first.input_id)], [])
        taken = await asyncio.wait_for(prefetch, WAIT)
        assert taken is not None and [item.method_name for item in taken] == [config.WEB_METHOD]

    asyncio.run(scenario())
