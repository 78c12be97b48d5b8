"""SQLite's WAL checkpoints run on the store's own thread, not inside the loop's commits, and
the WAL stays bounded (server/wal_checkpoint.py)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.server.sql_store import SqlStore
from nano_modal.server.store import CallRow, InputRow, OutputRow
from nano_modal.server.wal_checkpoint import WAL_LIMIT_PAGES

SQLITE_DEFAULT_AUTOCHECKPOINT = 1000  # pages: where SQLite checkpointed inside a commit before
WAL_HEADER, FRAME_HEADER = 32, 24  # bytes (sqlite.org/fileformat.html, "WAL File Format")
CHECKPOINT_DEADLINE = 30.0  # seconds for the thread's first checkpoint (0.1 s apart; a loaded machine)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{db}")
    yield store
    store.close()


def warm_call(store: SqlStore) -> None:
    """What a warm `.remote()` writes: its call and input, then its output (two transactions)."""
    call_id, input_id = uuid.uuid4().hex, uuid.uuid4().hex
    call = CallRow(call_id, "fu-test", 1, 1, True, False, time.time())
    store.create_call(call, [InputRow(input_id, call_id, "fu-test", 0, b"x" * 60, "")])
    store.add_outputs([OutputRow(call_id, input_id, 0, 1, b"y" * 40, "", "", "", True)])


def wal_frames_on_disk(db: Path) -> int:
    """Frames the WAL file has room for: the most it held since the store opened (it never shrinks)."""
    with sqlite3.connect(db) as conn:  # (not the last connection: closing it checkpoints nothing)
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    wal = db.with_name(db.name + "-wal")
    return max(0, (wal.stat().st_size - WAL_HEADER) // (page_size + FRAME_HEADER))


def stop_thread(store: SqlStore) -> None:
    checkpointer = getattr(store, "_checkpointer", None)
    if checkpointer is not None:
        checkpointer.stop()


def test_commits_leave_checkpoints_to_the_thread(store: SqlStore, db: Path) -> None:
    stop_thread(store)  # so that only the commits could have checkpointed
    size_before = db.stat().st_size
    for _ in range(200):  # ~16 pages each: past SQLite's default of 1,000
        warm_call(store)
    assert wal_frames_on_disk(db) > SQLITE_DEFAULT_AUTOCHECKPOINT
    assert db.stat().st_size == size_before  # no commit copied a page into the database file


def test_the_wal_stays_bounded_without_the_thread(store: SqlStore, db: Path) -> None:
    # Written without a pause, the thread's checkpoints never let the WAL start over: the
    # commits' own checkpoint at WAL_LIMIT_PAGES is the bound then.
    stop_thread(store)
    size_before = db.stat().st_size
    while db.stat().st_size == size_before:  # until a commit has checkpointed
        for _ in range(100):
            warm_call(store)
        assert wal_frames_on_disk(db) <= WAL_LIMIT_PAGES + 100
    for _ in range(WAL_LIMIT_PAGES // 10):  # and on past the bound again
        warm_call(store)
    assert wal_frames_on_disk(db) <= WAL_LIMIT_PAGES + 100


def test_the_thread_checkpoints_and_the_wal_starts_over(store: SqlStore, db: Path) -> None:
    for _ in range(30):  # ~500 pages: less than any commit would checkpoint at
        warm_call(store)
    size_before = db.stat().st_size
    deadline = time.monotonic() + CHECKPOINT_DEADLINE
    while db.stat().st_size == size_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert db.stat().st_size > size_before, "the thread copied nothing into the database file"
    stop_thread(store)  # (so the count below is this test's own checkpoint)
    warm_call(store)  # a commit after a complete checkpoint writes the WAL from its start
    with sqlite3.connect(db) as conn:
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
    assert frames < 100  # this one call's pages, not the ~500 before
