"""Ride out a lost database connection: retry each store operation, within a bound.

Every Store method is one transaction, so running it again after the connection broke
mid-way is safe: the first attempt either committed before the break (and the error came
from a later read, which the retry repeats) or rolled back. When the database stays away
longer than `config.STORE_RETRY_TIMEOUT`, the error propagates: the server treats that as
fatal and exits, so its supervisor restarts it on the durable state (see server/main.py).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from .. import config

log = logging.getLogger("nano_modal.server")

T = TypeVar("T", bound=type)

# Called (then the error is raised) when the store stays unreachable past the bound; the server
# sets it to exit, since its in-memory state may now be ahead of what the store holds.
on_give_up: Callable[[BaseException], None] | None = None


def _transient(exc: sa.exc.DBAPIError) -> bool:
    """A connection-level failure (server restarting, socket closed), not a bad statement."""
    return exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)


def _retrying(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        give_up = time.monotonic() + config.STORE_RETRY_TIMEOUT
        delay = 0.05
        while True:
            try:
                return method(*args, **kwargs)
            except sa.exc.DBAPIError as exc:
                if not _transient(exc):
                    raise
                if time.monotonic() + delay > give_up:
                    if on_give_up is not None:
                        on_give_up(exc)
                    raise
                log.warning("state store unreachable (%s), retrying %s in %.2fs", exc.orig, method.__name__, delay)
            # Blocking on purpose: the server's in-memory state must not move ahead of the store.
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    return wrapper


def retry_transient(cls: T) -> T:
    """Class decorator: every public method of `cls` retries on a lost connection."""
    for name, value in list(vars(cls).items()):
        if inspect.isfunction(value) and not name.startswith("_") and name != "close":
            setattr(cls, name, _retrying(value))
    return cls
