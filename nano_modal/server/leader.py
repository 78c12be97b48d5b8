"""One active server per store; others started on the same store forward to it (follower.py).

The control plane keeps hot state (queues, containers, waiters) in its process, so two
servers must never run it on one store at once. Each server takes a lease before it touches
the store: on PostgreSQL a session advisory lock (released by PostgreSQL the moment the
holder's connection dies, kill -9 included), on SQLite an exclusive `flock` next to the
database file (released by the kernel when the holder dies). The lease also says where the
active server listens (the lock connection's `application_name`, or the lock file's second
line), so that it vanishes with the lease. A follower polls for the lease, then recovers
every queue from the store and becomes the active server.
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
ADDRESS_PREFIX = "nano-modal@"  # application_name of the lock's connection: this + the active server's address


class Lease:
    """Held for the life of the server. If the database connection that holds it is lost (a
    PostgreSQL restart), the server takes the lock again; only if another server got it first,
    or the database stays away past the store's retry bound, is the lease lost."""

    def __init__(self, store_url: str, holder: Any, check: Callable[[], bool]) -> None:
        self._store_url = store_url
        self._holder = holder  # the open file or database connection that holds the lock
        self._check = check
        self._address = ""

    @property
    def store_url(self) -> str:
        return self._store_url

    def advertise(self, address: str) -> None:
        """Say where the active server listens, for followers (`active_address`)."""
        self._address = address
        _advertise(self._holder, address)

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
            if self._address:
                _advertise(self._holder, self._address)
            log.warning("took the store lease again")
            return True


async def try_acquire(store_url: str) -> Lease | None:
    """The lease if nobody holds it now; None if another server does or the store is away."""
    try:
        return await asyncio.to_thread(_take, store_url)
    except Exception as exc:  # the database is not up (yet): keep trying
        log.warning("cannot reach the store for its lease: %s", exc)
        return None


async def take_over(lease: Lease) -> Lease:
    """A follower got the lease: on PostgreSQL, give the previous active server, which may have
    lost only its database connection, time to notice and stop before this one starts. (An
    `flock` is released only when its holder has died.)"""
    if not lease.store_url.startswith("sqlite"):
        await asyncio.sleep(config.LEADER_TAKEOVER_GRACE)
    log.warning("the active server is gone: this server takes over")
    return lease


def active_address(store_url: str) -> str | None:
    """Where the store's active server listens (None: no server holds the lease now)."""
    if store_url.startswith("sqlite"):
        # The lock file says "<pid>\n<address>\n"; a SQLite store lives on one host, so the
        # holder is alive if its pid is. (Probing the flock itself could make a server that
        # is taking the lease at that moment believe it is held.)
        database = sa.make_url(store_url).database
        try:
            lines = Path(f"{database}.lease").read_text().splitlines()
            pid = int(lines[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return lines[1] if len(lines) > 1 and lines[1] else None
    query = sa.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.objid = :key AND l.granted"
    )
    with _engine(store_url).connect() as conn:
        name = conn.execute(query, {"key": ADVISORY_LOCK_KEY}).scalar()
    if not name or not str(name).startswith(ADDRESS_PREFIX):
        return None
    return str(name).removeprefix(ADDRESS_PREFIX)


_engines: dict[str, sa.Engine] = {}


def _engine(store_url: str) -> sa.Engine:
    if store_url not in _engines:
        _engines[store_url] = sa.create_engine(_psycopg_url(store_url), pool_size=1, pool_pre_ping=True)
    return _engines[store_url]


def _psycopg_url(store_url: str) -> str:
    if store_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + store_url.split("://", 1)[1]
    return store_url


def _advertise(holder: Any, address: str) -> None:
    if holder is None:
        return  # a private in-memory store
    if isinstance(holder, sa.Connection):
        query = sa.text("SELECT set_config('application_name', :name, false)")
        holder.execute(query, {"name": ADDRESS_PREFIX + address})
        holder.commit()
        return
    holder.seek(0)
    holder.truncate()
    holder.write(f"{os.getpid()}\n{address}\n")
    holder.flush()


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


# A follower asks for the lease every second: on the connection it asked on last time (which
# holds the lease once it gets it), not on a new one each time.
_candidates: dict[str, sa.Connection] = {}


def _postgres_lease(store_url: str) -> Lease | None:
    conn = _candidates.pop(store_url, None)
    if conn is None:
        conn = sa.create_engine(_psycopg_url(store_url), poolclass=sa.pool.NullPool).connect()
    try:
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
        conn.commit()
    except Exception:  # e.g. the database restarted under it: a new connection next time
        conn.close()
        raise
    if not got:
        _candidates[store_url] = conn
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
