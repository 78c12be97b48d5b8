"""How much log output the server keeps (docs/SECURITY.md, "The server").

Every byte a container prints becomes a row in the state store and a message to every
follower of the app's logs: a container printing in a loop would fill the store's disk.
Each container, and each app over all its containers, may log so many bytes per window;
past that, one visible "truncated" line is kept and the rest of the window's output is
dropped. Rows older than LOG_RETENTION are deleted by the server's janitor.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ..proto import api_pb2

ENV_CONTAINER_BYTES = "NANO_MODAL_LOG_CONTAINER_BYTES"
ENV_APP_BYTES = "NANO_MODAL_LOG_APP_BYTES"
ENV_RETENTION = "NANO_MODAL_LOG_RETENTION"
LOG_WINDOW = 3600.0  # seconds over which the byte budgets below are counted
# Far more than a program's diagnostics, far less than a disk: 10 MiB per container per hour,
# 100 MiB per app per hour.
CONTAINER_BYTES = int(os.environ.get(ENV_CONTAINER_BYTES) or 10 * 1024 * 1024)
APP_BYTES = int(os.environ.get(ENV_APP_BYTES) or 100 * 1024 * 1024)
LOG_RETENTION = float(os.environ.get(ENV_RETENTION) or 7 * 24 * 3600.0)  # seconds log rows are kept
TRUNCATED = (
    "[nano-modal] log output truncated: {who} printed more than {limit} bytes within {window:.0f}s;"
    " its output is dropped until {until}\n"
)


@dataclass
class _Budget:
    window_start: float
    used: int = 0
    marked: bool = False  # the truncated line is out for this window


class LogLimits:
    """Per-container and per-app byte budgets, one window at a time."""

    def __init__(self, container_bytes: int = CONTAINER_BYTES, app_bytes: int = APP_BYTES) -> None:
        self.container_bytes = container_bytes
        self.app_bytes = app_bytes
        self._budgets: dict[str, _Budget] = {}  # by container id, and by "app:" + app id
        self._last_sweep = time.monotonic()

    def admit(self, app_id: str, line: api_pb2.LogLine) -> list[api_pb2.LogLine]:
        """The lines to keep for `line`: itself, the part of it that fits and the truncated
        marker, or nothing (the budget is spent and the marker already out)."""
        now = time.monotonic()
        self._sweep(now)
        size = len(line.data.encode("utf-8", "surrogatepass"))
        container = self._budget(line.container_id, now)
        app = self._budget("app:" + app_id, now)
        container_room = self.container_bytes - container.used
        app_room = self.app_bytes - app.used
        room = max(0, min(container_room, app_room))
        if size <= room:
            container.used += size
            app.used += size
            return [line]
        over, limit, who = (
            (container, self.container_bytes, f"container {line.container_id}")
            if container_room <= app_room
            else (app, self.app_bytes, f"app {app_id}")
        )
        if over.marked:
            return []
        over.marked = True
        kept: list[api_pb2.LogLine] = []
        if room > 0:
            part = api_pb2.LogLine()
            part.CopyFrom(line)
            part.data = line.data.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore") + "\n"
            kept.append(part)
            container.used += room
            app.used += room
        over.used = limit
        until = time.strftime("%H:%M:%S", time.localtime(time.time() + over.window_start + LOG_WINDOW - now))
        marker = api_pb2.LogLine()
        marker.CopyFrom(line)
        marker.fd = 2
        marker.data = TRUNCATED.format(who=who, limit=limit, window=LOG_WINDOW, until=until)
        kept.append(marker)
        return kept

    def _budget(self, key: str, now: float) -> _Budget:
        budget = self._budgets.get(key)
        if budget is None or now - budget.window_start >= LOG_WINDOW:
            budget = self._budgets[key] = _Budget(now)
        return budget

    def _sweep(self, now: float) -> None:
        """Forget budgets of past windows (containers long gone), once per window."""
        if now - self._last_sweep < LOG_WINDOW:
            return
        self._last_sweep = now
        self._budgets = {k: b for k, b in self._budgets.items() if now - b.window_start < LOG_WINDOW}
