"""`App.logs`, `Function.logs` and `FunctionCall.logs`: what an object's containers printed, as
`types.LogEntry` records, from the server's store of its app's logs (or live, with `stream`)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

from . import config
from ._utils.aio import twin
from .client import Client
from .exception import InvalidError
from .proto import api_pb2
from .types import LogEntry

LogSource = Literal["stdout", "stderr", "system"]
# Lines the server is asked for by fetch() and by a filtered tail(): its store keeps an app's
# recent lines within a byte budget (server/log_limits.py), so this bounds nothing in practice.
HISTORY_LIMIT = 100_000
_SOURCES = {1: "stdout", 2: "stderr"}  # any other fd (image builds) is the system's


class LogsManager:
    """`x.logs`: `tail(entries)` the latest lines, `fetch(since=, until=)` a time range, or
    `stream(timeout)` new lines as they come; each yields `types.LogEntry` records."""

    def __init__(
        self,
        object_id: Callable[[], Awaitable[tuple[str, str]]],
        keep: Callable[[api_pb2.LogLine, str], bool] = lambda line, object_id: True,
    ) -> None:
        self._locate = object_id  # -> (the app whose logs hold the lines, the object's id)
        self._keep = keep  # is this line the object's? (given the object's id)

    @twin
    async def tail(self, entries: int = 100, *, source: LogSource | None = None) -> AsyncIterator[LogEntry]:
        """The last `entries` lines (of `source` only, if given), oldest first."""
        if entries < 0:
            raise InvalidError(f"entries must not be negative, got {entries}")
        found = [entry async for entry in self._stored(source)]
        for entry in found[max(0, len(found) - entries) :]:
            yield entry

    @twin
    async def fetch(
        self,
        *,
        since: datetime.datetime,
        until: datetime.datetime | None = None,
        source: LogSource | None = None,
        search_text: str = "",
    ) -> AsyncIterator[LogEntry]:
        """The stored lines from `since` to `until` (default: now) that contain `search_text`."""
        start, end = _utc(since), _utc(until or datetime.datetime.now(datetime.UTC))
        async for entry in self._stored(source):
            if start <= entry.timestamp <= end and search_text in entry.message:
                yield entry

    @twin
    async def stream(self, timeout: float | None = None) -> AsyncIterator[LogEntry]:
        """New lines as they are printed, until the app stops or none comes for `timeout` seconds."""
        if timeout is not None and timeout <= 0:
            return
        client = await Client.get()
        app_id, object_id = await self._locate()
        batches = client.stub.stream("AppLogs", api_pb2.AppLogsRequest(app_id=app_id, follow=True)).__aiter__()
        try:
            while True:
                try:
                    batch = await asyncio.wait_for(batches.__anext__(), timeout)
                except (StopAsyncIteration, TimeoutError):
                    return
                for entry in self._entries(batch, object_id, None):
                    yield entry
                if batch.app_done:
                    return
        finally:
            await batches.aclose()  # type: ignore[attr-defined]

    async def _stored(self, source: LogSource | None) -> AsyncIterator[LogEntry]:
        client = await Client.get()
        app_id, object_id = await self._locate()
        request = api_pb2.AppLogsRequest(app_id=app_id, history=HISTORY_LIMIT)
        async for batch in client.stub.stream("AppLogs", request):
            for entry in self._entries(batch, object_id, source):
                yield entry
            return  # the first batch holds the stored lines; what follows is live

    def _entries(self, batch: api_pb2.LogBatch, object_id: str, source: LogSource | None) -> list[LogEntry]:
        entries = []
        for line in batch.lines:
            kind = _SOURCES.get(line.fd, "system")
            if line.fd == config.LOG_SYNC_FD or (source and kind != source) or not self._keep(line, object_id):
                continue
            when = datetime.datetime.fromtimestamp(line.timestamp, datetime.UTC)
            contexts = [line.call_id, line.container_id] if line.call_id else [line.container_id]  # widest first
            entries.append(LogEntry(line.data, when, kind, object_id, contexts))  # type: ignore[arg-type]
        return entries


def _utc(when: datetime.datetime) -> datetime.datetime:
    return when.astimezone(datetime.UTC)  # a naive time is local time, as datetime.timestamp() reads it
