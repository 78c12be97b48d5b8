"""PostgreSQL plans of the store's hot statements follow the tables as they grow (issue 17).

psycopg prepares a statement on the server after a few runs, and PostgreSQL may then keep one
generic plan for it: made on a fresh store it is a sequential scan of `inputs`, and finishing a
batch of inputs then read the whole table long after it had grown (`.map` slowed round after
round). The plan a prepared statement runs with is what EXPLAIN EXECUTE shows on its session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from nano_modal.server.sql_store import SqlStore
from nano_modal.server.store import AppRow, CallRow, FunctionRow, InputRow, OutputRow
from tests import pg

BATCH = 10  # inputs finished per add_outputs: one statement shape, run often enough to be prepared
SMALL_RUNS = 30  # batches finished while the table is small (psycopg prepares, PostgreSQL caches a plan)
GROWN = 50_000  # inputs added afterwards: a sequential scan is then clearly the wrong plan


@pytest.fixture
def pg_store() -> Iterator[SqlStore]:
    if not pg.available():
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs it (apt-get install postgresql)")
    with pg.postgres_server() as url:
        store = SqlStore(url)
        yield store
        store.close()


def _inputs(call_id: str, start: int, count: int) -> list[InputRow]:
    return [InputRow(f"in-{i}", call_id, "fu-1", i, b"x", "") for i in range(start, start + count)]


def _finish(store: SqlStore, rows: list[InputRow]) -> None:
    store.add_outputs([OutputRow(r.call_id, r.input_id, r.idx, 1, b"", "", "", "", final=True) for r in rows])


def test_finishing_inputs_reads_the_index_after_the_table_grew(pg_store: SqlStore) -> None:
    pg_store.create_app(AppRow("ap-1", "demo", "running", True, time.time()))
    pg_store.create_function(FunctionRow("fu-1", "ap-1", "f", b"def", time.time()))
    small = _inputs("fc-1", 0, BATCH * SMALL_RUNS)
    pg_store.create_call(CallRow("fc-1", "fu-1", 2, len(small), True, False, time.time()), small)
    for start in range(0, len(small), BATCH):
        _finish(pg_store, small[start : start + BATCH])

    grown = _inputs("fc-2", len(small), GROWN)
    pg_store.create_call(CallRow("fc-2", "fu-1", 2, GROWN, True, False, time.time()), grown)
    _finish(pg_store, grown[:BATCH])

    # One caller at a time: the pool hands back the one session that ran (and prepared) the statements.
    with pg_store.engine.connect() as conn:
        # The finishing statement (sql_driver.py): one array of input ids, whatever the batch's size.
        name = conn.exec_driver_sql(
            "SELECT name FROM pg_prepared_statements WHERE statement LIKE 'UPDATE inputs SET finished%%'"
        ).scalar_one()
        ids = ", ".join(f"'{r.input_id}'" for r in grown[BATCH : 2 * BATCH])
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE {name}(ARRAY[{ids}])"))
        conn.rollback()
    assert "Seq Scan" not in plan, plan
    assert "inputs_pkey" in plan, plan
