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
from collections import Counter
from dataclasses import dataclass, field

# Requests remembered per endpoint (~30 bytes each in the lists below: a few MB at most for a
# busy one), enough for the last hour of an endpoint answering ~25 requests a second.
KEPT_PER_FUNCTION = 100_000


@dataclass
class _Kept:
    """One endpoint's requests as parallel lists in time order: a window is two bisections, and
    counting a window's statuses is Counter over a slice (C speed: it runs on the server's loop)."""

    times: list[float] = field(default_factory=list)  # unix seconds the gateway had the response head
    statuses: list[int] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)  # "" when no container answered (503, 504)


@dataclass
class WebRequests:
    by_function: dict[str, _Kept] = field(default_factory=dict)

    def record(self, function_id: str, status: int, container_id: str = "") -> None:
        kept = self.by_function.setdefault(function_id, _Kept())
        # Never before the previous one (the wall clock may step back): the lists stay sorted.
        kept.times.append(max(time.time(), kept.times[-1]) if kept.times else time.time())
        kept.statuses.append(status)
        kept.containers.append(container_id)
        if len(kept.times) >= 2 * KEPT_PER_FUNCTION:  # trimmed in halves: amortized O(1) a request
            for column in (kept.times, kept.statuses, kept.containers):
                del column[:-KEPT_PER_FUNCTION]

    def status_counts(
        self, function_ids: list[str], since: float, until: float, container_id: str = ""
    ) -> dict[int, int]:
        """Requests answered in [since, until), by status (of one container's, if named)."""
        counts: Counter[int] = Counter()
        for function_id in function_ids:
            kept = self.by_function.get(function_id)
            if kept is None:
                continue
            first, end = bisect.bisect_left(kept.times, since), bisect.bisect_left(kept.times, until)
            if not container_id:
                counts.update(kept.statuses[first:end])
            else:
                answered = zip(kept.statuses[first:end], kept.containers[first:end], strict=True)
                counts.update(status for status, by in answered if by == container_id)
        return dict(counts)
