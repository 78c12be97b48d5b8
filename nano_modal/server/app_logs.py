"""Apps' logs: stored off the loop (the log writer), pushed live to followers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable

from .. import config
from ..proto import api_pb2
from .control_base import ControlBase
from .state import App, FunctionRuntime
from .store import LogRow

log = logging.getLogger("nano_modal.server")


class AppLogs(ControlBase):
    """Log lines of containers and of the platform, by app."""

    def publish_logs(self, lines: Iterable[api_pb2.LogLine]) -> None:
        rows: list[LogRow] = []
        for line in lines:
            container = self.containers.get(line.container_id)
            if container is None:
                continue
            app = self.apps.get(container.app_id)
            if app is None:
                continue
            line.function_name = self._function(container.function_id).name
            if line.call_id:  # the container says whose line it is: only a call of its own function
                call = self.calls.get(line.call_id)
                if call is None or call.function_id != container.function_id:
                    line.call_id = ""
            if line.fd == config.LOG_SYNC_FD:  # sync marks are for the callers following now only
                for queue in app.log_subscribers:
                    queue.put_nowait(line)
                continue
            for kept in self.log_limits.admit(app.app_id, line):  # byte budgets: log_limits.py
                rows.append(
                    LogRow(
                        app.app_id,
                        kept.timestamp,
                        kept.function_name,
                        kept.container_id,
                        kept.fd,
                        kept.data,
                        kept.call_id,
                    )
                )
                for queue in app.log_subscribers:
                    queue.put_nowait(kept)
        self._store_logs(rows)

    def _store_logs(self, rows: list[LogRow]) -> None:
        """On the log writer's thread (at once without a loop): logs never wait for the store."""
        if not rows:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.store.add_logs(rows)
            return
        self._log_commit.submit(rows)

    def system_log(self, fn: FunctionRuntime, text: str) -> None:
        """A line in the app's logs from the platform itself (e.g. a schedule firing)."""
        app = self.app(fn.app_id)
        now = time.time()
        line = api_pb2.LogLine(function_name=fn.name, container_id="nano-modal", fd=1, data=text + "\n", timestamp=now)
        self._store_logs([LogRow(app.app_id, now, fn.name, line.container_id, 1, line.data)])
        for queue in app.log_subscribers:
            queue.put_nowait(line)

    def _wake_log_followers(self, app: App) -> None:
        for queue in app.log_subscribers:
            queue.put_nowait(None)

    def app_finished(self, app: App) -> bool:
        """Stopped, and every container it had has exited (so its logs are all in)."""
        if app.live:
            return False
        return not any(c.app_id == app.app_id for c in self.containers.active())

    async def follow_logs(self, app_id: str) -> AsyncIterator[list[api_pb2.LogLine]]:
        app = self.app(app_id)
        queue: asyncio.Queue[api_pb2.LogLine | None] = asyncio.Queue()
        app.log_subscribers.append(queue)
        try:
            while True:
                batch: list[api_pb2.LogLine] = []
                try:
                    first = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    first = None
                if first is not None:
                    batch.append(first)
                while not queue.empty():
                    line = queue.get_nowait()
                    if line is not None:
                        batch.append(line)
                if batch:
                    yield batch
                if self.app_finished(app) and queue.empty():
                    return
        finally:
            app.log_subscribers.remove(queue)
