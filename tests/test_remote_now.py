"""The blocking `.remote()` on the caller's thread (nano_modal/_remote_now.py), interrupted.
(Arguments and results too large for the exchange: tests/test_functions.py's blob tests.)"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class Interrupted(Exception):
    """Raised in the main thread by a timer, as Ctrl-C raises KeyboardInterrupt."""


@contextmanager
def interrupt_after(seconds: float) -> Iterator[None]:
    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_an_interrupted_remote_leaves_no_answer_for_the_next_call(core_app: Any) -> None:
    assert core_app.slow_identity.remote("a warm container", 0.0) == "a warm container"
    with pytest.raises(Interrupted), interrupt_after(0.5):
        core_app.slow_identity.remote("the interrupted call's value", 2.0)
    time.sleep(2.5)  # its answer, had the connection been kept, is there to be misread now
    assert core_app.square.remote(7) == 49
    assert core_app.slow_identity.remote("this call's value", 0.0) == "this call's value"


def test_a_remote_is_answered_only_once_its_call_input_and_output_are_stored(core_app: Any, cluster: Any) -> None:
    # Its input may reach the container before it is written (server/inputs.py), never the answer.
    assert core_app.echo_args.remote("durable") == {"args": ["durable"], "kwargs": {}}
    with sqlite3.connect(cluster.state_dir / "state.db") as db:
        ((call_id, finished),) = db.execute(
            "SELECT calls.call_id, inputs.finished FROM calls JOIN inputs ON inputs.call_id = calls.call_id"
            " ORDER BY calls.created_at DESC LIMIT 1"
        )
        (outputs,) = db.execute("SELECT COUNT(*) FROM outputs WHERE call_id = ? AND final", (call_id,)).fetchone()
    assert (finished, outputs) == (1, 1)
