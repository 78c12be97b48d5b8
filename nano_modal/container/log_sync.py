"""A function's prints reach the caller before its result: prints travel container -> worker ->
server -> the caller's log stream, the result straight to the server, so it used to win.

After an input that printed, the container writes a sync mark (config.LOG_SYNC_MARK and the
input id) on each stream it printed to, behind those prints, and its output says how many
marks to wait for; the caller's `.remote()` returns once its log printer has shown them.
Prints made through sys.stdout and sys.stderr are seen; bytes written to the file descriptors
directly (a subprocess's, os.write) are not, and keep their old race."""

from __future__ import annotations

import collections
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from .. import config
from .._runtime_context import current_function_call_id

PENDING_MAX = 64 * 1024  # characters of an unfinished line held back in a concurrent container


class _Watched:
    """sys.stdout or sys.stderr, counting the writes made through it, and saying whose they are:
    when the function call printing changes, a context mark (config.LOG_CONTEXT_MARK) goes
    first, so that the worker tags the lines after it with that call (FunctionCall.logs).
    The call is the current input's (a context variable, so @concurrent inputs on threads or
    tasks each have theirs), or, in code with no input of its own (a thread the function
    started), the one call the container runs, if it runs one; bytes written to the file
    descriptor directly are not seen, and count as the last marked call's."""

    def __init__(self, stream: TextIO, sole_call: Callable[[], str], concurrent: bool) -> None:
        self.stream = stream
        self.sole_call = sole_call
        # With one input at a time, no other call's mark can come between a check and its write.
        # With several, each call's unfinished line waits for its end (print() writes the text,
        # then "\n"): lines go out whole, after their call's mark, under the lock.
        self.concurrent = concurrent
        self.pending: dict[str, str] = {}  # call -> the start of a line it has not ended yet
        self.writes = 0
        self.call_id = ""  # the call the stream's last mark named
        self.lock = threading.Lock()  # a mark and the write it precedes stay together

    def write(self, text: str) -> int:
        call_id = current_function_call_id() or self.sole_call()
        if call_id == self.call_id and not self.concurrent:
            self.writes += 1
            return self.stream.write(text)
        with self.lock:
            self.writes += 1
            if not self.concurrent:
                self._write(call_id, text)
                return len(text)
            line = self.pending.pop(call_id, "") + text
            whole, newline, rest = line.rpartition("\n")
            if len(rest) > PENDING_MAX:  # no line end in sight (a progress bar): out it goes
                whole, newline, rest = line, "", ""
            if rest:
                self.pending[call_id] = rest
            self._write(call_id, whole + newline)
            return len(text)

    def _write(self, call_id: str, text: str) -> None:
        """Under the lock: `text`, after a mark if the stream's last one named another call."""
        if not text:
            return
        if call_id != self.call_id:
            self.call_id = call_id
            self.stream.write(f"{config.LOG_CONTEXT_MARK}{call_id}\n")
        self.stream.write(text)

    def flush(self) -> None:
        with self.lock:
            for call_id, text in self.pending.items():
                self._write(call_id, text)
            self.pending.clear()
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class LogSync:
    def __init__(self, concurrent: bool = False) -> None:
        self.running: collections.Counter[str] = collections.Counter()  # calls with inputs running now
        self.watched = [_Watched(stream, self.sole_call, concurrent) for stream in (sys.stdout, sys.stderr)]
        sys.stdout, sys.stderr = self.watched
        self.marked = [0, 0]  # writes of each stream when it was last marked
        self.lock = threading.Lock()  # @concurrent inputs end on several threads

    def begin(self, call_id: str) -> None:
        with self.lock:
            self.running[call_id] += 1

    def end(self, call_id: str) -> None:
        with self.lock:
            self.running[call_id] -= 1
            if self.running[call_id] <= 0:
                del self.running[call_id]

    def sole_call(self) -> str:
        """The call whose inputs the container runs, when there is exactly one ("" otherwise)."""
        running = list(self.running)  # a copy: other threads begin and end inputs meanwhile
        return running[0] if len(running) == 1 else ""

    def mark(self, input_id: str) -> int:
        """Mark each stream written to since its last mark; return how many were marked."""
        marks = 0
        with self.lock:
            for i, watched in enumerate(self.watched):
                if watched.writes == self.marked[i]:
                    continue
                try:  # the real stream: the mark is not a print
                    watched.stream.write(f"{config.LOG_SYNC_MARK}{input_id}\n")
                    watched.stream.flush()
                except (OSError, ValueError):  # closed by the user's code: nothing to wait for
                    continue
                self.marked[i] = watched.writes
                marks += 1
        return marks
