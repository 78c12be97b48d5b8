"""Ride out a lost database connection without freezing the server.

Every Store method is one transaction, so running it again after the connection broke
mid-way is safe: the first attempt either committed before the break (and the error came
from a later read, which the retry repeats) or rolled back.

Where a store operation runs decides how it waits for the database:

- on the server's event loop (`serving_thread`), it never waits: the first connection-level
  failure raises `StoreUnavailable`, which the caller sees as UNAVAILABLE and retries with
  backoff. Sleeping there would freeze every RPC, the fast lane and the HTTP gateway with it
  (a 15 s outage used to stall even `Hello`, and got a live worker declared dead);
- on any other thread (a group commit's store thread, group_commit.py; startup), it retries with
  backoff, blocking that thread only: the writer's callers are waiting for exactly that.

When the database stays away longer than `config.STORE_RETRY_TIMEOUT`, the error propagates
and `on_give_up` runs: the server treats that as fatal and exits, so its supervisor restarts
it on the durable state (see server/main.py).
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from .. import config
from .errors import StoreUnavailable

log = logging.getLogger("nano_modal.server")

T = TypeVar("T", bound=type)

# Called (then the error is raised) when the store stays unreachable past the bound; the server
# sets it to exit, since its in-memory state may now be ahead of what the store holds.
on_give_up: Callable[[BaseException], None] | None = None

# The thread of the server's event loop, once it serves (main.py): store calls made there fail
# fast instead of sleeping. None: every thread may wait (tests, tools, startup).
serving_thread: int | None = None

FIRST_DELAY = 0.05  # seconds before the first retry; doubles up to MAX_DELAY
MAX_DELAY = 1.0


class _Outage:
    """Since when the store has been unreachable, as seen by any thread (None: reachable)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since: float | None = None

    def failed(self) -> float:
        """Marks a failure; returns the outage's start."""
        with self._lock:
            if self.since is None:
                self.since = time.monotonic()
            return self.since

    def ended(self) -> None:
        self.since = None


outage = _Outage()


def _transient(exc: sa.exc.DBAPIError) -> bool:
    """A connection-level failure (server restarting, socket closed), not a bad statement."""
    return exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)


def _give_up_if_too_long(exc: sa.exc.DBAPIError, started: float) -> None:
    if time.monotonic() - started > config.STORE_RETRY_TIMEOUT:
        if on_give_up is not None:
            on_give_up(exc)
        raise exc


def _retrying(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        delay = FIRST_DELAY
        while True:
            try:
                result = method(*args, **kwargs)
            except sa.exc.DBAPIError as exc:
                if not _transient(exc):
                    raise
                started = outage.failed()
                _give_up_if_too_long(exc, started)
                if threading.get_ident() == serving_thread:
                    raise StoreUnavailable(f"the state store is unreachable ({exc.orig}); try again") from exc
                log.warning("state store unreachable (%s), retrying %s in %.2fs", exc.orig, method.__name__, delay)
                time.sleep(delay)  # never the event loop's thread: see above
                delay = min(delay * 2, MAX_DELAY)
                continue
            outage.ended()
            return result

    return wrapper


def retry_transient(cls: T) -> T:
    """Class decorator: every public method of `cls` retries on a lost connection."""
    for name, value in list(vars(cls).items()):
        if inspect.isfunction(value) and not name.startswith("_") and name != "close":
            setattr(cls, name, _retrying(value))
    return cls
