"""Group commit (server/group_commit.py), driven in-process: what callers hand in is written in
hand-in order, many callers per transaction, and nobody is answered before their write is done;
while the store is away the writes go to the store thread (the loop keeps running) and none
handed in meanwhile overtakes them.

The store is a stand-in whose one method goes through the server's real retry policy
(store_retry.retry_transient): on the loop it fails fast while the database is "away", on the
store thread it retries until it is back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from nano_modal.server import store_retry
from nano_modal.server.group_commit import GroupCommit


@store_retry.retry_transient
class _Log:
    """Transactions, in the order they committed, with the thread each ran on."""

    def __init__(self) -> None:
        self.away = threading.Event()
        self.broken = False  # a statement error: not retried
        self.committed: list[tuple[list[str], int]] = []
        self.seen_done: list[bool] = []  # per transaction: was any of its callers answered already?
        self.futures: dict[str, asyncio.Future[None]] = {}  # item -> its caller's

    def write(self, items: list[str]) -> None:
        if self.away.is_set():
            raise sa.exc.OperationalError("INSERT ...", {}, Exception("connection refused"))
        if self.broken:
            raise sa.exc.IntegrityError("INSERT ...", {}, Exception("duplicate key"))
        self.seen_done.append(any(self.futures[item].done() for item in items))
        self.committed.append((list(items), threading.get_ident()))

    def read(self) -> None:
        """Another store call (another RPC's): once it succeeds, the outage is over for everyone."""
        if self.away.is_set():
            raise sa.exc.OperationalError("SELECT ...", {}, Exception("connection refused"))


@pytest.fixture
def log() -> Iterator[_Log]:
    yield _Log()
    store_retry.serving_thread = None
    store_retry.outage.ended()


def _commit(log: _Log, applied: list[str]) -> GroupCommit[str]:
    return GroupCommit(log.write, applied.extend, "test-writer", inline=True)


def _hand_in(log: _Log, commit: GroupCommit[str], *items: str) -> list[asyncio.Future[None]]:
    futures = [commit.enqueue([item]) for item in items]
    log.futures.update(zip(items, futures, strict=True))
    return futures


def test_items_of_one_turn_share_a_transaction_in_hand_in_order(log: _Log) -> None:
    applied: list[str] = []
    commit = _commit(log, applied)

    async def scenario() -> None:
        store_retry.serving_thread = threading.get_ident()
        await asyncio.gather(*_hand_in(log, commit, "a", "b", "c"))
        await asyncio.gather(*_hand_in(log, commit, "d"))

    asyncio.run(scenario())
    assert [items for items, _ in log.committed] == [["a", "b", "c"], ["d"]]
    assert applied == ["a", "b", "c", "d"]
    assert log.seen_done == [False, False]  # nobody was answered before the commit of their items
    commit.close()


def test_a_failed_transaction_fails_each_of_its_callers_and_only_those(log: _Log) -> None:
    applied: list[str] = []
    commit = _commit(log, applied)

    async def scenario() -> tuple[list[BaseException | None], list[BaseException | None]]:
        store_retry.serving_thread = threading.get_ident()
        log.broken = True
        failed = await asyncio.gather(*_hand_in(log, commit, "a", "b"), return_exceptions=True)
        log.broken = False
        later = await asyncio.gather(*_hand_in(log, commit, "c"), return_exceptions=True)
        return failed, later

    failed, later = asyncio.run(scenario())
    assert all(isinstance(result, sa.exc.IntegrityError) for result in failed)
    assert later == [None]
    assert [items for items, _ in log.committed] == [["c"]]
    assert applied == ["c"]  # a failed write changes nothing in memory
    commit.close()


def test_while_the_store_is_away_writes_wait_on_the_store_thread_in_order(log: _Log) -> None:
    """The first write fails fast on the loop and is retried on the store thread; what is handed
    in meanwhile is written after it (not on the loop, ahead of it, even once the store is back),
    and nothing is answered before it is written. The loop keeps turning meanwhile; once the thread has caught up, the
    loop writes again."""
    applied: list[str] = []
    commit = _commit(log, applied)
    loop_thread = threading.get_ident()

    async def scenario() -> int:
        store_retry.serving_thread = loop_thread
        log.away.set()
        first = _hand_in(log, commit, "a")
        turns = 0
        for turns in range(1, 51):  # the loop keeps turning while the thread retries
            await asyncio.sleep(0.001)
            if turns == 10:
                later = _hand_in(log, commit, "b", "c")
        assert not log.committed
        assert not any(f.done() for f in first + later)  # nothing answered while it is not written
        log.away.clear()
        log.read()  # on the loop: the store answers again
        assert store_retry.outage.since is None
        # Back, but the thread has not retried yet (it sleeps between tries): this one must wait
        # its turn behind those, though the loop could now write it at once.
        latest = _hand_in(log, commit, "e")
        await asyncio.gather(*first, *later, *latest)
        await asyncio.gather(*_hand_in(log, commit, "d"))
        return turns

    assert asyncio.run(scenario()) == 50
    written = [item for items, _ in log.committed for item in items]
    assert written == ["a", "b", "c", "e", "d"]
    assert applied == ["a", "b", "c", "e", "d"]
    threads = [thread for _, thread in log.committed]
    assert all(thread != loop_thread for thread in threads[:-1])  # retried on the store thread
    assert threads[-1] == loop_thread  # back on the loop once the store answers
    assert not any(log.seen_done)
    commit.close()
