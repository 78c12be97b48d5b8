"""A client that resends a batch of inputs (its answer was lost to a server restart) adds nothing twice."""

from __future__ import annotations

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
