"""SQLite's WAL checkpoints, on a thread of their own instead of inside the loop's commits.

By default SQLite checkpoints inside whichever commit takes the WAL past 1,000 pages: it
copies the pages to the database file and fsyncs both files before that commit returns (an
fsync is 1.5-3.5 ms on this VM's disk). A warm `.remote()` writes ~16 pages (two
transactions), so every ~60th call paid for a checkpoint on the event loop, and so did every
call waiting on the loop meanwhile: ~1.6 % of calls, the warm call's p99 (docs/BENCHMARKS.md,
"Warm call tail").

So this thread runs a PASSIVE checkpoint every CHECKPOINT_INTERVAL on a connection of its
own: PASSIVE never waits for a lock and never blocks a writer, and SQLite releases the GIL
while it copies and syncs. Once a checkpoint has copied every frame, the next commit writes
the WAL from its start again (SQLite's rule), so the WAL stays at what one interval writes.

That rule needs a commit to start after a checkpoint completed with no commit during it. A
store written without a pause of a few ms (an fsync or two) never gets one, so the store's
connections keep SQLite's own checkpoint as a bound, at WAL_LIMIT_PAGES instead of 1,000:
it then copies only what this thread has not, ten times less often.

What is durable when does not change: a commit is in the WAL either way; a checkpoint only
moves committed pages into the database file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("nano_modal.server")

# The WAL's bound (~40 MB at 4 KiB pages): a commit that takes it past this checkpoints inline.
WAL_LIMIT_PAGES = 10_000
BOUNDED_AUTOCHECKPOINT = f"PRAGMA wal_autocheckpoint={WAL_LIMIT_PAGES}"  # for every connection of the store
# Often enough that the WAL stays a few MB at the warm-call rate (~1,000 calls/s × ~16 pages),
# seldom enough that an idle server's thread costs nothing to speak of.
CHECKPOINT_INTERVAL = 0.1
_BUSY_TIMEOUT_S = 5.0  # opening the connection may meet a writer's lock (as the store's own: 5000 ms)


def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, frames in the WAL, frames copied), as SQLite reports them."""
    # fetchall: a statement left unfinished would hold a read snapshot, which stops the WAL
    # from being written from its start again.
    [(busy, frames, copied)] = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(busy), int(frames), int(copied)


class WalCheckpointer:
    """Checkpoints `path`'s WAL every CHECKPOINT_INTERVAL until `stop()`."""

    def __init__(self, path: str, interval: float = CHECKPOINT_INTERVAL) -> None:
        self._path = path
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            while not self._stopping.wait(self._interval):
                try:
                    checkpoint(conn)
                except sqlite3.Error as exc:  # e.g. the disk is full: the commits say so too; try again
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
