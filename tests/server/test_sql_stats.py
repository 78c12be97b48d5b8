"""The Store's reads for stats and call graphs (server/sql_stats.py), on SQLite and a real PostgreSQL."""

from __future__ import annotations

import time

from nano_modal.proto import api_pb2
from nano_modal.server.store import AppRow, CallRow, ContainerRunRow, FunctionRow, InputRow, OutputRow, Store

SUCCESS, FAILURE = api_pb2.OUTPUT_STATUS_SUCCESS, api_pb2.OUTPUT_STATUS_FAILURE


def _call(store: Store, call_id: str, n: int, parent: str = "", function_id: str = "fu-1") -> None:
    inputs = [InputRow(f"in-{call_id}-{i}", call_id, function_id, i, b"", "") for i in range(n)]
    store.create_call(CallRow(call_id, function_id, 1, n, True, False, time.time(), parent), inputs)


def _out(
    call_id: str, i: int, status: int, finished_at: float, container: str = "ta-1", final: bool = True
) -> OutputRow:
    row = OutputRow(call_id, f"in-{call_id}-{i}", i, status, b"", "", "", "", final=final)
    row.queued_at, row.finished_at, row.run_seconds, row.container_id = finished_at - 2, finished_at, 1.5, container
    return row


def test_outputs_are_summed_by_status_and_bucket_within_the_window(any_store: Store) -> None:
    any_store.create_app(AppRow("ap-1", "demo", "running", True, time.time()))
    for fid in ("fu-1", "fu-2"):
        any_store.create_function(FunctionRow(fid, "ap-1", fid, b"", time.time()))
    _call(any_store, "fc-a", 5)
    _call(any_store, "fc-b", 1, function_id="fu-2")
    unknown = _out("fc-a", 4, SUCCESS, 110.0)
    unknown.run_seconds = unknown.queued_at = 0.0  # written before these were kept
    any_store.add_outputs(
        [
            _out("fc-a", 0, SUCCESS, 100.0),
            _out("fc-a", 1, FAILURE, 150.0, container="ta-2"),
            _out("fc-a", 2, SUCCESS, 200.0),  # at `until`: outside
            _out("fc-a", 3, SUCCESS, 120.0, final=False),  # a generator item: not an input's end
            _out("fc-b", 0, SUCCESS, 120.0),  # another function's
            unknown,
        ]
    )
    whole = {b.status: b for b in any_store.output_buckets(["fu-1"], 100.0, 200.0, 0)}
    assert (whole[SUCCESS].count, whole[FAILURE].count) == (2, 1)
    assert (whole[SUCCESS].run_count, whole[SUCCESS].run_sum, whole[SUCCESS].run_max) == (1, 1.5, 1.5)
    assert (whole[SUCCESS].latency_count, whole[SUCCESS].latency_sum) == (1, 2.0)
    by_minute = sorted((b.bucket, b.status, b.count) for b in any_store.output_buckets(["fu-1"], 100.0, 200.0, 30))
    assert by_minute == [(0, SUCCESS, 2), (1, FAILURE, 1)]  # [100, 130) and [130, 160)
    assert [b.count for b in any_store.output_buckets(["fu-1"], 100.0, 200.0, 0, container_id="ta-2")] == [1]
    assert sum(b.count for b in any_store.output_buckets(["fu-1", "fu-2"], 0.0, 1000.0, 0)) == 5
    assert any_store.output_sample(["fu-1"], 0.0, 1000.0, 2) == [(1.5, 2.0), (1.5, 2.0)]  # the newest two
    assert any_store.output_sample(["fu-1"], 105.0, 115.0, 10) == [(0.0, 0.0)]  # unknown: 0


def test_container_runs_by_exit_time(any_store: Store) -> None:
    runs = [
        ContainerRunRow("ta-1", "fu-1", 10.0, 11.0, 50.0, False),
        ContainerRunRow("ta-2", "fu-1", 60.0, 0.0, 70.0, True),
    ]
    any_store.add_outputs([], runs=runs)
    assert any_store.container_runs(["fu-1"], 60.0, 100.0) == runs[1:]
    assert any_store.container_runs(["fu-2"], 0.0, 100.0) == []


def test_call_graph_reads(any_store: Store) -> None:
    _call(any_store, "fc-root", 2)
    _call(any_store, "fc-kid", 1, parent="in-fc-root-1")
    any_store.add_outputs([_out("fc-root", 0, SUCCESS, 10.0, container="ta-9")])
    assert any_store.call_of_input("in-fc-root-1").call_id == "fc-root"  # type: ignore[union-attr]
    assert any_store.call_of_input("in-nobody") is None
    assert [c.call_id for c in any_store.calls_with_parents(["in-fc-root-1", "in-fc-root-0"])] == ["fc-kid"]
    graph = any_store.graph_inputs(["fc-root", "fc-kid"], limit=10)
    assert [(g.input_id, g.status, g.container_id) for g in graph] == [
        ("in-fc-kid-0", 0, ""),  # no final output yet: pending
        ("in-fc-root-0", SUCCESS, "ta-9"),
        ("in-fc-root-1", 0, ""),
    ]
    assert len(any_store.graph_inputs(["fc-root", "fc-kid"], limit=2)) == 2


def test_retention_forgets_old_container_runs(any_store: Store) -> None:
    old, new = (
        ContainerRunRow("ta-old", "fu-1", 1.0, 2.0, 3.0, False),
        ContainerRunRow("ta-new", "fu-1", 1.0, 2.0, 9e9, False),
    )
    any_store.add_outputs([], runs=[old, new])
    any_store.delete_calls_before(1000.0)
    assert any_store.container_runs(["fu-1"], 0.0, 1e10) == [new]
