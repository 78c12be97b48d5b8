"""The Store contract, run against every implementation: SQLite and a real PostgreSQL."""

from __future__ import annotations

import time

import pytest

from nano_modal.server.store import (
    AppRow,
    CallRow,
    DeploymentRow,
    FunctionRow,
    InputRow,
    LogRow,
    OutputRow,
    ProxyTokenRow,
    Store,
)


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def _app(store: Store, app_id: str = "ap-1", state: str = "running") -> None:
    store.create_app(AppRow(app_id, "demo", state, state == "running", time.time()))
    store.create_function(FunctionRow(f"fu-{app_id}", app_id, "f", b"def", time.time()))


def test_calls_inputs_outputs_round_trip(store: Store) -> None:
    _app(store)
    inputs = [InputRow(f"in-{i}", "fc-1", "fu-ap-1", i, b"args%d" % i, "", method_name="m") for i in range(3)]
    store.create_call(CallRow("fc-1", "fu-ap-1", 2, 3, True, False, time.time()), inputs)
    assert store.get_call("fc-1") == CallRow("fc-1", "fu-ap-1", 2, 3, True, False, store.get_call("fc-1").created_at)  # type: ignore[union-attr]
    assert [r.input_id for r in store.unfinished_inputs()] == ["in-0", "in-1", "in-2"]
    assert store.unfinished_inputs()[0].method_name == "m"

    rows = [OutputRow("fc-1", f"in-{i}", i, 1, b"r%d" % i, "", "", "", final=True) for i in (2, 0)]
    store.add_outputs(rows)
    assert rows[0].cursor < rows[1].cursor  # cursors follow insertion order
    assert [r.input_id for r in store.unfinished_inputs()] == ["in-1"]
    assert [r.idx for r in store.outputs_after("fc-1", 0, 10)] == [2, 0]
    assert [r.idx for r in store.outputs_after("fc-1", rows[0].cursor, 10)] == [0]
    assert store.count_final_outputs("fc-1") == 2
    assert store.max_cursor() == rows[1].cursor

    store.add_inputs("fc-1", [InputRow("in-3", "fc-1", "fu-ap-1", 3, b"", "blob")], num_inputs=4, inputs_complete=True)
    assert store.get_call("fc-1").num_inputs == 4  # type: ignore[union-attr]


def test_single_output_gets_a_cursor(store: Store) -> None:
    _app(store)
    store.create_call(CallRow("fc-2", "fu-ap-1", 1, 1, True, False, time.time()), [])
    row = OutputRow("fc-2", "in-x", 0, 1, b"", "", "", "", final=True)
    store.add_outputs([row])
    assert row.cursor > 0


def test_stopped_apps_inputs_are_not_recovered(store: Store) -> None:
    _app(store, "ap-stop")
    store.create_call(
        CallRow("fc-3", "fu-ap-stop", 1, 1, True, False, time.time()),
        [InputRow("in-s", "fc-3", "fu-ap-stop", 0, b"", "")],
    )
    store.set_app_state("ap-stop", "stopped")
    assert store.unfinished_inputs() == []
    assert [a.app_id for a in store.running_apps()] == []


def test_deployments_logs_schedules_and_tokens(store: Store) -> None:
    _app(store, "ap-d", state="deployed")
    assert store.find_deployed_app("demo", "main") is not None
    store.add_deployment(DeploymentRow("ap-d", 1, "first", time.time(), b"spec1"))
    store.add_deployment(DeploymentRow("ap-d", 2, "", time.time(), b"spec2", rollback_of=1))
    store.set_app_version("ap-d", 2)
    assert [d.version for d in store.deployments("ap-d")] == [1, 2]
    assert store.get_app("ap-d").version == 2  # type: ignore[union-attr]
    store.update_function("fu-ap-d", b"new")
    assert store.get_function("fu-ap-d").definition == b"new"  # type: ignore[union-attr]

    store.add_logs([LogRow("ap-d", float(i), "f", "ta-1", 1, f"line {i}") for i in range(5)])
    assert [r.data for r in store.tail_logs("ap-d", 2)] == ["line 3", "line 4"]
    store.delete_logs_before(3.0)
    assert len(store.tail_logs("ap-d", 10)) == 2

    assert store.schedule_last_fire("fu-ap-d") is None
    store.set_schedule_last_fire("fu-ap-d", 100.0)
    store.create_call(CallRow("fc-s", "fu-ap-d", 3, 1, True, False, time.time()), [], schedule_fire=160.0)
    assert store.schedule_last_fire("fu-ap-d") == 160.0

    store.create_proxy_token("wk-1", "hash", "team-b")
    assert store.proxy_token("wk-1") == ProxyTokenRow("hash", "team-b")
    assert store.proxy_token("wk-2") is None


def test_old_calls_are_forgotten(store: Store) -> None:
    _app(store)
    store.create_call(
        CallRow("fc-old", "fu-ap-1", 1, 1, True, False, 10.0), [InputRow("in-o", "fc-old", "fu-ap-1", 0, b"", "")]
    )
    store.create_call(CallRow("fc-new", "fu-ap-1", 1, 1, True, False, time.time()), [])
    assert store.delete_calls_before(100.0) == 1
    assert store.get_call("fc-old") is None and store.get_call("fc-new") is not None
