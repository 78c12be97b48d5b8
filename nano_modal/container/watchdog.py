"""Per-input deadlines: when one input overruns its function's timeout, the container ends."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable

from ..proto import api_pb2
from .io import ContainerIO


class Watchdog:
    def __init__(self, io_: ContainerIO, name: str, timeout: float) -> None:
        self.io = io_
        self.name = name
        self.timeout = timeout
        self.lock = threading.Lock()
        # The watch sleeps until the earliest deadline and is woken only by an earlier one: a
        # 50 ms poll woke every idle container 20 times a second for nothing (30 warm containers
        # after an I/O-bound map took the GIL 600 times a second from the cores' real work).
        self.changed = threading.Condition(self.lock)
        self.sleeping_until = math.inf
        self.running: dict[str, tuple[api_pb2.ContainerInput, float]] = {}
        # Finished inputs whose outputs the runner has not sent yet: they go out with the timeout.
        self.unsent: Callable[[], list[api_pb2.FunctionOutput]] = list
        # Inputs received but not started (the rest of a batch, a prefetch that has arrived):
        # asked at the timeout, since a prefetch may arrive while an input runs.
        self.untouched: Callable[[], list[str]] = list
        threading.Thread(target=self._watch, name="nano-modal-watchdog", daemon=True).start()

    def begin(self, item: api_pb2.ContainerInput) -> None:
        deadline = time.monotonic() + self.timeout
        with self.lock:
            self.running[item.input_id] = (item, deadline)
            if deadline < self.sleeping_until:
                self.changed.notify()

    def end(self, input_id: str) -> None:
        with self.lock:
            self.running.pop(input_id, None)

    def running_ids(self) -> list[str]:
        with self.lock:
            return list(self.running)

    def _watch(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                expired = [item for item, deadline in self.running.values() if now > deadline]
                if expired:
                    others = [i for i in self.running if all(i != e.input_id for e in expired)]
                    break
                self.sleeping_until = min((deadline for _, deadline in self.running.values()), default=math.inf)
                self.changed.wait(None if self.sleeping_until == math.inf else self.sleeping_until - now)
        others += self.untouched()
        message = f"{self.name} timed out after {self.timeout:g}s (its timeout)"
        outputs = self.unsent() + [
            api_pb2.FunctionOutput(
                input_id=item.input_id, idx=item.idx, status=api_pb2.OUTPUT_STATUS_TIMEOUT, exception_repr=message
            )
            for item in expired
        ]
        try:
            # Inputs that were merely sharing this container are handed back, unharmed.
            self.io.put_outputs(outputs, released=others)
        finally:
            os._exit(1)
