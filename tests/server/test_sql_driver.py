"""The map's hot writes run straight on the driver (sql_driver.py), on SQLite and PostgreSQL,
and keep every value the SQLAlchemy path kept; ids sort by the time they were made."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from nano_modal.server import control_base
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.store import AppRow, CallRow, FunctionRow, InputRow, OutputRow


def _app(store: SqlStore) -> None:
    store.create_app(AppRow("ap-1", "demo", "running", True, time.time()))
    store.create_function(FunctionRow("fu-1", "ap-1", "f", b"def", time.time()))


@pytest.fixture
def statements_through_sqlalchemy(any_store: SqlStore) -> Iterator[list[str]]:
    """The SQL of every statement SQLAlchemy executes on this store from now on."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    sa.event.listen(any_store.engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(any_store.engine, "before_cursor_execute", record)


def test_a_maps_writes_skip_sqlalchemy_and_keep_their_values(
    any_store: SqlStore, statements_through_sqlalchemy: list[str]
) -> None:
    _app(any_store)
    statements_through_sqlalchemy.clear()
    big = 2**40  # past a 32-bit integer: idx is a BIGINT
    first = [InputRow("in-a", "fc-1", "fu-1", big, b"\x00\xff args", "", method_name="méthode")]
    any_store.create_call(CallRow("fc-1", "fu-1", 2, 1, False, False, 12.5, parent_input_id="in-p"), first)
    more = [InputRow(f"in-{i}", "fc-1", "fu-1", i, b"%d" % i, "bl-1" if i == 1 else "", attempt=i) for i in (1, 2)]
    any_store.add_inputs("fc-1", more, num_inputs=3, inputs_complete=True)
    outputs = [
        OutputRow("fc-1", "in-a", big, 1, b"\x00r", "", "", "", final=True, queued_at=1.5, run_seconds=0.25),
        OutputRow("fc-1", "in-1", 1, 5, b"item", "", "", "", final=False, finished_at=3.0, container_id="ta-1"),
        OutputRow("fc-1", "in-2", 2, 2, b"", "bl-2", "ValueError('x')", "Traceback ...", final=True),
    ]
    any_store.add_outputs(outputs)
    assert statements_through_sqlalchemy == []  # all of it on the driver

    assert any_store.get_call("fc-1") == CallRow("fc-1", "fu-1", 2, 3, True, False, 12.5, "in-p")
    assert any_store.unfinished_inputs() == [more[0]]  # in-1 has a generator item only: not finished
    assert any_store.outputs_after("fc-1", 0, 10) == outputs
    assert [o.cursor for o in outputs] == sorted(o.cursor for o in outputs)
    assert any_store.count_final_outputs("fc-1") == 2
    with any_store.engine.connect() as conn:  # a finished input's payload is dropped; others kept
        args = dict(conn.execute(sa.text("SELECT input_id, args FROM inputs")).all())
    assert {k: bytes(v) for k, v in args.items()} == {"in-a": b"", "in-1": b"1", "in-2": b""}


def test_an_empty_batch_writes_only_the_counters(any_store: SqlStore) -> None:
    _app(any_store)
    any_store.create_call(CallRow("fc-1", "fu-1", 2, 0, False, False, 1.0), [])
    any_store.add_inputs("fc-1", [], num_inputs=0, inputs_complete=True)
    any_store.add_outputs([OutputRow("fc-1", "in-x", 0, 5, b"item", "", "", "", final=False)])
    assert any_store.get_call("fc-1").inputs_complete  # type: ignore[union-attr]
    assert len(any_store.outputs_after("fc-1", 0, 10)) == 1


def test_ids_made_later_sort_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's id indexes then grow at their end (control_base.new_id)."""
    clock = iter(range(1_000_000, 1_000_100))
    monkeypatch.setattr(time, "time", lambda: float(next(clock)))
    ids = [control_base.new_id("in") for _ in range(100)]
    assert sorted(ids) == ids
    assert len(set(ids)) == 100
