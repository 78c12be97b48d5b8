"""Per-input deadlines: when one input overruns its function's timeout, the container ends."""

from __future__ import annotations

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
        self.running: dict[str, tuple[api_pb2.ContainerInput, float]] = {}
        # Finished inputs whose outputs the runner has not sent yet: they go out with the timeout.
        self.unsent: Callable[[], list[api_pb2.FunctionOutput]] = list
        # Inputs received but not started (the rest of a batch, a prefetch that has arrived):
        # asked at the timeout, since a prefetch may arrive while an input runs.
        self.untouched: Callable[[], list[str]] = list
        threading.Thread(target=self._watch, name="nano-modal-watchdog", daemon=True).start()

    def begin(self, item: api_pb2.ContainerInput) -> None:
        with self.lock:
            self.running[item.input_id] = (item, time.monotonic() + self.timeout)

    def end(self, input_id: str) -> None:
        with self.lock:
            self.running.pop(input_id, None)

    def running_ids(self) -> list[str]:
        with self.lock:
            return list(self.running)

    def _watch(self) -> None:
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            with self.lock:
                expired = [item for item, deadline in self.running.values() if now > deadline]
                others = [i for i in self.running if all(i != e.input_id for e in expired)]
            if not expired:
                continue
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
