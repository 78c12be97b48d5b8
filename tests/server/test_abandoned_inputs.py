"""A cancel or an app stop is recorded before its inputs' outputs are written (on the output
writer). A server that crashes in between must not leave a reader of the call waiting forever."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.control import ControlPlane
from nano_modal.server.sql_store import SqlStore


def _started_call(control: ControlPlane, n: int) -> tuple[str, str]:
    app_id = control.create_app("abandoned", ephemeral=False)
    function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="f"))
    inputs = [api_pb2.FunctionInput(idx=i, args=api_pb2.Payload(data=serialize(((i,), {})))) for i in range(n)]
    call = control.start_call(function_id, api_pb2.CALL_KIND_MAP, inputs, True)
    return app_id, call.call_id


def _crash_after(control: ControlPlane, act: Callable[[], None]) -> None:
    """`act` on a running loop, then the server dies before the output writer gets a turn."""

    async def scenario() -> None:
        act()
        control._output_commit.close()  # the write never happens: the process is gone

    asyncio.run(scenario())


@pytest.mark.parametrize("ending", ["cancel", "app stop"])
def test_a_reader_of_a_call_cut_short_by_a_crash_gets_its_outputs(tmp_path: Path, ending: str) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = SqlStore(url)
    before = ControlPlane(store)
    app_id, call_id = _started_call(before, n=3)
    if ending == "cancel":
        _crash_after(before, lambda: before.cancel_call(call_id))
    else:
        _crash_after(before, lambda: before.stop_app(app_id))
    assert store.count_final_outputs(call_id) == 0  # the crash window: recorded, outputs missing
    store.close()

    restarted_store = SqlStore(url)
    try:
        restarted = ControlPlane(restarted_store)
        assert restarted.recover() == 0
        call = restarted.get_call(call_id)
        assert call.done  # a reader returns instead of waiting for outputs no one will write
        rows = restarted_store.outputs_after(call_id, 0, 10)
        assert sorted(r.idx for r in rows) == [0, 1, 2]
        assert {r.status for r in rows} == {api_pb2.OUTPUT_STATUS_CANCELLED}
        assert restarted_store.abandoned_inputs() == []  # answered once, not at every restart
    finally:
        restarted_store.close()


def test_a_cancel_answers_once_its_outputs_are_durable(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    _, call_id = _started_call(control, n=2)

    async def scenario() -> int:
        control.cancel_call(call_id)
        await control.outputs_written()
        return store.count_final_outputs(call_id)

    try:
        assert asyncio.run(scenario()) == 2
    finally:
        store.close()
