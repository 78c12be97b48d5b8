"""`Image.logs`: the build log of an image this process built with `Image.build()`, as
`types.LogEntry` records, from the stored logs of the app it was built under (Modal's
`ImageLogsManager`: `tail(entries)`, and `fetch(layers)` for the last build steps).

A layer here is a part of the build log from one "Base ..." or "Step k/n: ..." header to the
next (a cached step is its header alone). Images built by a function's first call rather than
by `build()` have no log this process knows of: their lines are in that app's logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from . import config
from ._logs import LogsManager
from ._utils.aio import twin
from .exception import InvalidError
from .proto import api_pb2
from .types import LogEntry

if TYPE_CHECKING:
    from .image import Image

# Where one build step's lines begin (worker/images/builder.py writes these headers).
LAYER_HEADERS = ("Base ", "Step ")


class ImageLogsManager:
    def __init__(self, image: Image) -> None:
        self._image = image

    async def _where(self) -> tuple[str, str]:
        """(the app whose logs hold the build, the sandbox that built it)."""
        where = self._image._build_log
        if not where[1]:
            raise InvalidError("Cannot fetch logs for an image that has not been built yet: call its build() first")
        return where

    async def _entries(self) -> list[LogEntry]:
        def of_build(line: api_pb2.LogLine, sandbox_id: str) -> bool:
            return line.fd == config.IMAGE_BUILD_LOG_FD and line.container_id == sandbox_id

        logs = LogsManager(self._where, keep=of_build)
        return [entry async for entry in logs._stored(None)]

    @twin
    async def tail(self, entries: int = 100) -> AsyncIterator[LogEntry]:
        """The build's last `entries` lines, oldest first."""
        if entries < 0:
            raise InvalidError(f"entries must not be negative, got {entries}")
        found = await self._entries()
        for entry in found[max(0, len(found) - entries) :]:
            yield entry

    @twin
    async def fetch(self, layers: int | None = 1) -> AsyncIterator[LogEntry]:
        """The lines of the build's last `layers` steps (None: all of them, its base too)."""
        if layers is not None and layers < 1:
            raise ValueError("layers must be at least 1")
        found = await self._entries()
        starts = [i for i, entry in enumerate(found) if entry.message.startswith(LAYER_HEADERS)] or [0]
        first = 0 if layers is None or layers >= len(starts) else starts[-layers]
        for entry in found[first:]:
            yield entry
