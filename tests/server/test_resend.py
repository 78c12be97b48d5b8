"""A client that resends a batch of inputs (its answer was lost to a server restart) adds nothing
twice; a container that resends its request for inputs (the answer was lost in a stall) gets
the same inputs again, not new ones that nobody would run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane, Invalid
from nano_modal.server.sql_store import SqlStore


def _batch(first: int, count: int) -> list[api_pb2.FunctionInput]:
    return [api_pb2.FunctionInput(idx=i, args=api_pb2.Payload(data=b"x")) for i in range(first, first + count)]


def test_resent_input_batches_are_skipped(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        control = ControlPlane(store)
        app_id = control.create_app("resend", ephemeral=True)
        function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="f"))
        call = control.start_call(function_id, api_pb2.CALL_KIND_MAP, [], complete=False)
        control.add_inputs(call, _batch(0, 3), complete=False)
        control.add_inputs(call, _batch(0, 3), complete=False)  # resent
        control.add_inputs(call, _batch(3, 2), complete=True)
        control.add_inputs(call, _batch(3, 2), complete=True)  # the last batch, resent
        assert call.num_inputs == 5
        assert sorted(item.idx for item in control.functions[function_id].queue) == [0, 1, 2, 3, 4]
        assert len(store.unfinished_inputs()) == 5
        # A new input after the call was closed is still an error, not silently dropped.
        with pytest.raises(Invalid, match="takes no more inputs"):
            control.add_inputs(call, _batch(5, 1), complete=True)
    finally:
        store.close()


def test_a_resent_request_for_inputs_gets_the_same_inputs(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        control = ControlPlane(store)
        control.register_worker(api_pb2.WorkerRegisterRequest(worker_id="wk-1", hostname="h", cpu=4, memory_mb=8192))
        app_id = control.create_app("resend", ephemeral=True)
        function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="f"))
        control.start_call(function_id, api_pb2.CALL_KIND_MAP, _batch(0, 4), complete=True)
        container = control.place_container(control.functions[function_id])
        assert container is not None
        control.container_hello(container)

        async def scenario() -> list[list[int]]:
            first = await control.take_inputs(container, 2, 1.0, request_seq=1) or []  # its answer is lost
            resent = await control.take_inputs(container, 2, 1.0, request_seq=1) or []
            after = await control.take_inputs(container, 2, 1.0, request_seq=2) or []
            return [[i.idx for i in batch] for batch in (first, resent, after)]

        first, resent, after = asyncio.run(scenario())
        assert resent == first and len(first) == 2
        assert sorted(first + after) == [0, 1, 2, 3]  # the next request: the other inputs
        assert sorted(item.idx for item in container.held.values()) == [0, 1, 2, 3]
    finally:
        store.close()
