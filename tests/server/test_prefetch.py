"""A container asks for its next inputs while it runs the current ones (container/runner.py
prefetches): a suspect input still runs alone, and a parked prefetch learns when it may take one.
Events in (takes, outputs), hand-outs out; no worker, no container process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.control import ControlPlane
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.state import Container

WAIT = 30.0  # generous: the hand-outs below come from events, not from the clock


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    control.register_worker(api_pb2.WorkerRegisterRequest(worker_id="wk-1", hostname="h", cpu=2, memory_mb=4096))
    yield control
    store.close()


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
