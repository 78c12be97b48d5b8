"""The server's housekeeping: what is past its retention is deleted, so that the state
database and the blob directory stay bounded on a server that runs for months.

Every JANITOR_EVERY seconds, in a thread (the event loop keeps serving meanwhile): calls
with their inputs and outputs past config.OUTPUT_RETENTION, log rows past LOG_RETENTION,
then the blobs nothing names any more (blob_gc.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from .. import config
from . import blob_gc
from .blobs import BlobStore
from .control import ControlPlane
from .log_limits import LOG_RETENTION
from .sql_store import SqlStore

log = logging.getLogger("nano_modal.server")

ENV_JANITOR_EVERY = "NANO_MODAL_JANITOR_EVERY"
# Seconds between two passes: nothing here is urgent, and a blob pass reads every kept row.
JANITOR_EVERY = float(os.environ.get(ENV_JANITOR_EVERY) or 600)


async def run_forever(store: SqlStore, blobs: BlobStore, control: ControlPlane) -> None:
    while True:
        await asyncio.sleep(JANITOR_EVERY)
        # Taken on the loop, which owns them: the definitions of functions and sandboxes held in memory.
        in_memory = [fn.definition.SerializeToString() for fn in control.functions.values()]
        await asyncio.to_thread(_pass, store, blobs, in_memory)


def _pass(store: SqlStore, blobs: BlobStore, in_memory: list[bytes]) -> None:
    now = time.time()
    try:
        store.delete_calls_before(now - config.OUTPUT_RETENTION)
        store.delete_logs_before(now - LOG_RETENTION)
    except Exception:
        log.exception("deleting old calls and logs failed; the next pass tries again")
        return  # their blobs are still named: nothing more to free this time
    blob_gc.collect_logged(store, blobs, in_memory)
