"""The caller's side of container/log_sync.py: which inputs' sync marks the app's log printer
has shown, so that `.remote()` returns (and `.map` yields) a result only after the prints its input made."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from . import config

# Inputs whose shown marks are remembered until their caller reads their output (oldest dropped
# first): a map's outputs are read as its inputs finish, at most MAP_MAX_INFLIGHT behind, so
# this holds several maps' worth.
KEPT = 5 * config.MAP_MAX_INFLIGHT

_shown: dict[str, int] = {}  # input id -> sync marks shown
_printers = 0  # log printers running in this process (app.run(show_logs=True))
_changed: asyncio.Condition | None = None  # on the SDK's loop, where the printer and .remote() run


def _condition() -> asyncio.Condition:
    global _changed
    if _changed is None:
        _changed = asyncio.Condition()
    return _changed


@contextlib.asynccontextmanager
async def printing() -> AsyncIterator[None]:
    """Around a log printer: while one runs, `.remote()` waits for the marks."""
    global _printers
    _printers += 1
    try:
        yield None
    finally:
        _printers -= 1
        async with _condition():
            _condition().notify_all()  # waiters for marks that will not come now


async def shown(input_id: str) -> None:
    """The printer has shown everything before this sync mark."""
    _shown[input_id] = _shown.get(input_id, 0) + 1
    if len(_shown) > KEPT:
        del _shown[next(iter(_shown))]
    async with _condition():
        _condition().notify_all()


def must_wait(marks: int) -> bool:
    """Whether `wait` for that many marks has anything to wait for."""
    return bool(marks and _printers)


async def wait(input_id: str, marks: int) -> None:
    """Return once `marks` sync marks of `input_id` were shown (or no printer runs, or LOG_SYNC_WAIT passed)."""
    if not marks or not _printers:
        return
    condition = _condition()
    with contextlib.suppress(TimeoutError):
        async with condition:
            await asyncio.wait_for(
                condition.wait_for(lambda: _shown.get(input_id, 0) >= marks or not _printers), config.LOG_SYNC_WAIT
            )
    _shown.pop(input_id, None)
