"""`modal app logs` without --follow: the stored lines of an app, by time window and filters
(AppFetchLogs), and how many fall in each time bucket (AppCountLogs, which the client asks
first when given --since, to split a long window into fetches)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ... import config
from ..store import LogRow
from .base import Call, ServiceBase

# The newest stored lines of an app that a fetch or a count looks through: the client's own
# largest fetch (modal 1.6's _FETCH_LIMIT), so `--tail` is never short; older lines of a very
# chatty app are reached with nano-modal's own `app logs --lines`.
SCANNED_LINES = 20_000


def _seconds(timestamp: Any, default: float) -> float:
    return timestamp.seconds + timestamp.nanos / 1e9 if timestamp.seconds or timestamp.nanos else default


class AppLogFetchRpcs(ServiceBase):
    def _matching(self, request: Any) -> list[LogRow]:
        """The app's stored lines in [since, until) that pass the request's filters, oldest first."""
        self.control.app(request.app_id)  # NotFound for an unknown id
        since = _seconds(request.since, 0.0)
        until = _seconds(request.until, math.inf)
        function = self.control.functions.get(request.function_id) if request.function_id else None
        found = []
        for row in self.control.store.tail_logs(request.app_id, SCANNED_LINES):
            if row.fd == config.LOG_SYNC_FD or not since <= row.timestamp < until:
                continue
            if request.source and row.fd != request.source:
                continue
            if request.task_id and row.container_id != request.task_id:
                continue
            if request.sandbox_id and row.container_id != request.sandbox_id:
                continue
            if request.function_id and (function is None or row.function_name != function.name):
                continue
            if request.function_call_id and row.call_id != request.function_call_id:
                continue
            if request.search_text and request.search_text not in row.data:
                continue
            found.append(row)
        return found

    def _batches(self, rows: Iterable[LogRow]) -> list[Any]:
        """Consecutive lines of one container in one batch, in the order they were printed."""
        batches: list[Any] = []
        for row in rows:
            item = self.pb.TaskLogs(
                data=row.data,
                file_descriptor=row.fd or self.pb.FILE_DESCRIPTOR_STDOUT,
                timestamp=row.timestamp,
                timestamp_ns=int(row.timestamp * 1e9),
                function_call_id=row.call_id,
                container_id=row.container_id,
            )
            if not batches or batches[-1].task_id != row.container_id:
                batches.append(self.pb.TaskLogsBatch(task_id=row.container_id, entry_id=str(item.timestamp_ns)))
            batches[-1].items.append(item)
        return batches

    async def AppFetchLogs(self, request: Any, call: Call) -> Any:
        call.admin()
        rows = self._matching(request)
        if request.limit:
            rows = rows[-request.limit :]  # the newest, as `--tail` asks
        return self.pb.AppFetchLogsResponse(batches=self._batches(rows))

    async def AppCountLogs(self, request: Any, call: Call) -> Any:
        call.admin()
        rows = self._matching(request)
        since = _seconds(request.since, rows[0].timestamp if rows else 0.0)
        width = max(1, request.bucket_secs or 3600)
        counts: dict[int, list[int]] = {}
        for row in rows:
            bucket = counts.setdefault(int((row.timestamp - since) // width), [0, 0, 0])
            bucket[0 if row.fd in (0, 1) else 1 if row.fd == 2 else 2] += 1
        response = self.pb.AppCountLogsResponse()
        for index in sorted(counts):
            stdout, stderr, system = counts[index]
            bucket = response.buckets.add(stdout_logs=stdout, stderr_logs=stderr, system_logs=system)
            bucket.bucket_start_at.FromSeconds(int(since + index * width))
        return response
