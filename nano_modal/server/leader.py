"""One active server per store; others started on the same store wait as standbys.

The control plane keeps hot state (queues, containers, waiters) in its process, so two
servers must never serve one store at once. Each server takes a lease before it touches the
store: on PostgreSQL a session advisory lock (released by PostgreSQL the moment the holder's
connection dies, kill -9 included), on SQLite an exclusive `flock` next to the database file
(released by the kernel when the holder dies). A standby polls for the lease, then recovers
every queue from the store and starts serving; clients and workers that list several server
addresses fail over to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .. import config

log = logging.getLogger("nano_modal.server")

ADVISORY_LOCK_KEY = 0x6E616E6F  # "nano": the PostgreSQL advisory lock of the active server


class Lease:
    """Held for the life of the server. If the database connection that holds it is lost (a
    PostgreSQL restart), the server takes the lock again; only if another server got it first,
    or the database stays away past the store's retry bound, is the lease lost."""

    def __init__(self, store_url: str, holder: Any, check: Callable[[], bool]) -> None:
        self._store_url = store_url
        self._holder = holder  # the open file or database connection that holds the lock
        self._check = check

    async def watch(self, on_lost: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(config.LEADER_POLL_INTERVAL)
            try:
                held = await asyncio.to_thread(self._check)
            except Exception as exc:
                log.warning("the store lease's connection is gone (%s): taking the lock again", exc)
                held = False
            if not held and not await self._take_again():
                on_lost()
                return

    async def _take_again(self) -> bool:
        deadline = asyncio.get_running_loop().time() + config.STORE_RETRY_TIMEOUT
        while True:
            try:
                lease = await asyncio.to_thread(_take, self._store_url)
            except Exception as exc:  # the database is still away
                if asyncio.get_running_loop().time() > deadline:
                    log.error("cannot take the store lease again: %s", exc)
                    return False
                await asyncio.sleep(config.LEADER_POLL_INTERVAL)
                continue
            if lease is None:
                return False  # another server took over meanwhile
            with contextlib.suppress(Exception):
                self._holder.close()  # the dead connection
            self._holder, self._check = lease._holder, lease._check
            log.warning("took the store lease again")
            return True


async def acquire(store_url: str, announce: Callable[[], None]) -> Lease:
    """Wait until this server is the store's only active server; `announce` once if it must wait."""
    waited = False
    while True:
        try:
            lease = await asyncio.to_thread(_take, store_url)
        except Exception as exc:  # the database is not up (yet): keep trying
            log.warning("cannot reach the store for its lease: %s", exc)
            lease = None
        if lease is not None:
            if waited:
                # Give a previous active server that lost its connection time to notice and stop.
                await asyncio.sleep(config.LEADER_TAKEOVER_GRACE)
                log.warning("the active server is gone: this server takes over")
            return lease
        if not waited:
            announce()
            waited = True
        await asyncio.sleep(config.LEADER_POLL_INTERVAL)


def _take(store_url: str) -> Lease | None:
    return _sqlite_lease(store_url) if store_url.startswith("sqlite") else _postgres_lease(store_url)


def _sqlite_lease(store_url: str) -> Lease | None:
    database = sa.make_url(store_url).database
    if not database or database == ":memory:":
        return Lease(store_url, None, lambda: True)  # a private in-memory store: nobody to share with
    path = Path(database + ".lease")
    path.parent.mkdir(parents=True, exist_ok=True)
    f = path.open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return Lease(store_url, f, lambda: True)  # a flock lasts as long as this process


def _postgres_lease(store_url: str) -> Lease | None:
    if store_url.startswith(("postgresql://", "postgres://")):
        store_url = "postgresql+psycopg://" + store_url.split("://", 1)[1]
    engine = sa.create_engine(store_url, poolclass=sa.pool.NullPool)
    conn = engine.connect()
    try:
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
        conn.commit()
    except Exception:
        conn.close()
        raise
    if not got:
        conn.close()
        return None

    def still_held() -> bool:
        # Our own session's lock shows in pg_locks as long as this connection lives.
        query = sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND pid = pg_backend_pid()"
        )
        held = bool(conn.execute(query, {"key": ADVISORY_LOCK_KEY}).scalar())
        conn.commit()
        return held

    return Lease(store_url, conn, still_held)
