"""The input state table, driven in-process: a ControlPlane on SQLite, events in, states out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.control import ControlPlane
from nano_modal.server.input_states import INPUT_TRANSITIONS, InvalidInputMove, move_input
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.state import Container, InputState, QueuedInput

S = InputState


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    control.register_worker(api_pb2.WorkerRegisterRequest(worker_id="wk-1", hostname="h", cpu=4, memory_mb=8192))
    yield control
    store.close()


def _function(control: ControlPlane, max_retries: int = 0) -> str:
    app_id = control.create_app("inputs", ephemeral=True)
    retries = api_pb2.RetryPolicy(max_retries=max_retries, backoff_coefficient=1.0, initial_delay=0.0)
    return control.create_function(app_id, api_pb2.FunctionDefinition(name="f", retries=retries))


def _running_container(control: ControlPlane, function_id: str) -> Container:
    container = control.place_container(control.functions[function_id])
    assert container is not None
    control.container_hello(container)
    return container


def _start(control: ControlPlane, function_id: str, n: int = 1) -> list[api_pb2.FunctionInput]:
    inputs = [api_pb2.FunctionInput(idx=i, args=api_pb2.Payload(data=serialize(((i,), {})))) for i in range(n)]
    control.start_call(function_id, api_pb2.CALL_KIND_MAP, inputs, True)
    return inputs


def _output(item: QueuedInput, status: int) -> api_pb2.FunctionOutput:
    return api_pb2.FunctionOutput(input_id=item.input_id, idx=item.idx, status=status)  # type: ignore[arg-type]


def test_an_input_that_fails_once_then_succeeds(control: ControlPlane, tmp_path: Path) -> None:
    function_id = _function(control, max_retries=1)
    _start(control, function_id)
    container = _running_container(control, function_id)

    async def scenario() -> list[InputState]:
        seen = []
        [item] = await control.take_inputs(container, 1, 1.0) or []
        seen.append(item.state)
        await control.put_outputs(container, [_output(item, api_pb2.OUTPUT_STATUS_FAILURE)], [])
        seen.append(item.state)
        control.promote_due_retries()
        seen.append(item.state)
        [again] = await control.take_inputs(container, 1, 1.0) or []
        assert again is item and item.attempt == 1
        seen.append(item.state)
        await control.put_outputs(container, [_output(item, api_pb2.OUTPUT_STATUS_SUCCESS)], [])
        seen.append(item.state)
        return seen

    assert asyncio.run(scenario()) == [S.HELD, S.RETRYING, S.QUEUED, S.HELD, S.DONE]
    assert [row.attempt for row in control.store.unfinished_inputs()] == []  # done: nothing to recover


def test_the_attempt_is_in_the_store_while_the_input_waits_to_retry(control: ControlPlane) -> None:
    function_id = _function(control, max_retries=2)
    _start(control, function_id)
    container = _running_container(control, function_id)

    async def fail_once() -> QueuedInput:
        [item] = await control.take_inputs(container, 1, 1.0) or []
        await control.put_outputs(container, [_output(item, api_pb2.OUTPUT_STATUS_FAILURE)], [])
        return item

    item = asyncio.run(fail_once())
    assert item.state == S.RETRYING
    assert [(r.input_id, r.attempt) for r in control.store.unfinished_inputs()] == [(item.input_id, 1)]


def test_a_container_death_settles_what_it_held(control: ControlPlane) -> None:
    function_id = _function(control)
    _start(control, function_id, n=3)
    container = _running_container(control, function_id)
    held = asyncio.run(_take(control, container, 1))
    control.container_exited(container.container_id, 137, "out of memory")
    assert [i.state for i in held] == [S.FAILED]  # it ran alone: its failure, no retries left

    other = _running_container(control, function_id)
    held = asyncio.run(_take(control, other, 2))
    control.container_exited(other.container_id, 137, "out of memory")
    assert [i.state for i in held] == [S.QUEUED, S.QUEUED]  # which one killed it is unknown: both again
    assert all(i.suspect for i in held)


async def _take(control: ControlPlane, container: Container, n: int) -> list[QueuedInput]:
    return await control.take_inputs(container, n, 1.0) or []


def test_cancel_reaches_queued_held_and_retrying_inputs(control: ControlPlane) -> None:
    function_id = _function(control, max_retries=1)
    inputs = [api_pb2.FunctionInput(idx=i, args=api_pb2.Payload(data=serialize(((i,), {})))) for i in range(3)]
    call = control.start_call(function_id, api_pb2.CALL_KIND_MAP, inputs, True)
    fn = control.functions[function_id]
    container = _running_container(control, function_id)
    retrying, held = asyncio.run(_take(control, container, 2))
    asyncio.run(control.put_outputs(container, [_output(retrying, api_pb2.OUTPUT_STATUS_FAILURE)], []))
    queued = fn.queue[0]
    assert (queued.state, held.state, retrying.state) == (S.QUEUED, S.HELD, S.RETRYING)
    control.cancel_call(call.call_id)
    assert (queued.state, held.state, retrying.state) == (S.CANCELLED, S.CANCELLED, S.CANCELLED)
    assert not fn.queue and not fn.delayed


def test_finished_inputs_cannot_move_again() -> None:
    item = QueuedInput("in-1", "fc-1", "fu-1", 0, api_pb2.Payload(), 0)
    for final in (S.DONE, S.FAILED, S.CANCELLED):
        assert INPUT_TRANSITIONS[final] == frozenset()
    move_input(item, S.HELD)
    move_input(item, S.DONE)
    with pytest.raises(InvalidInputMove, match="done -> queued"):
        move_input(item, S.QUEUED)
    fresh = QueuedInput("in-2", "fc-1", "fu-1", 1, api_pb2.Payload(), 0)
    with pytest.raises(InvalidInputMove, match="queued -> done"):
        move_input(fresh, S.DONE)  # an input nobody ran cannot have succeeded


def test_idle_finished_calls_leave_memory_and_running_or_recent_ones_stay(control: ControlPlane) -> None:
    function_id = _function(control)
    inputs = [api_pb2.FunctionInput(idx=0, args=api_pb2.Payload(data=serialize(((0,), {}))))]
    old_done, old_running, recent_done, touched_done = (
        control.start_call(function_id, api_pb2.CALL_KIND_MAP, inputs, True) for _ in range(4)
    )
    for call in (old_done, recent_done, touched_done):
        call.num_final = call.num_inputs
    for call in (old_done, old_running, touched_done):
        call.last_access -= 1000.0
    control.get_call(touched_done.call_id)  # asked about just now
    control.forget_idle_calls(600.0)
    assert set(control.calls) == {old_running.call_id, recent_done.call_id, touched_done.call_id}
    control.forget_idle_calls(600.0)  # a running call at the front is looked at again later, kept
    assert old_running.call_id in control.calls
