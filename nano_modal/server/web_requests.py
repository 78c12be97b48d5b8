"""The HTTP status of each web request the gateway answered, for Server.stats'
`request_count_by_status_code` (the outputs table, which stats.py counts, holds an input's
outcome, not the status its ASGI app or HTTP server chose).

Kept in memory by the active server only, newest `KEPT_PER_FUNCTION` per endpoint: a status
code count covers what this server answered since it became active (a failover starts them
afresh, as it does live containers); everything else in Server.stats comes from the database.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from dataclasses import dataclass, field

# Requests remembered per endpoint (~100 bytes each: ~10 MB at most for a busy one), enough
# for the last hour of an endpoint answering ~25 requests a second.
KEPT_PER_FUNCTION = 100_000


@dataclass(frozen=True)
class WebRequest:
    at: float  # unix seconds the gateway had the response head (or gave up)
    status: int
    container_id: str  # "" when no container answered (503, 504, client gone)


@dataclass
class WebRequests:
    by_function: dict[str, deque[WebRequest]] = field(default_factory=dict)

    def record(self, function_id: str, status: int, container_id: str = "") -> None:
        kept = self.by_function.setdefault(function_id, deque(maxlen=KEPT_PER_FUNCTION))
        kept.append(WebRequest(time.time(), status, container_id))

    def status_counts(
        self, function_ids: list[str], since: float, until: float, container_id: str = ""
    ) -> dict[int, int]:
        """Requests answered in [since, until), by status (of one container's, if named)."""
        counts: dict[int, int] = {}
        for function_id in function_ids:
            kept = list(self.by_function.get(function_id, ()))  # in time order: appended as answered
            first = bisect.bisect_left(kept, since, key=lambda r: r.at)
            for request in kept[first:]:
                if request.at >= until:
                    break
                if not container_id or request.container_id == container_id:
                    counts[request.status] = counts.get(request.status, 0) + 1
        return counts
