"""A sandbox's stats hold its run in whole microseconds: the cpu-seconds derived from the
duration then agree with the duration a client shows (Modal's client turns `duration_hours`
into a timedelta, which keeps microseconds). They disagreed about 1 time in 4, which made
examples/modal_client_stats.py flaky under `modal run`. Pure: no server."""

from __future__ import annotations

import datetime
import random
from types import SimpleNamespace
from typing import Any

from nano_modal.server.stats import sandbox_stats

CPU = 0.5


def test_stats_durations_are_whole_microseconds() -> None:
    draw = random.Random(7)
    disagreements = []
    for _ in range(1000):
        created = 1_800_000_000 + draw.random() * 1000
        ended = created + draw.random() * 5
        sb: Any = SimpleNamespace(created_at=created, ended_at=ended, container=SimpleNamespace(cpu=CPU, memory_mb=128))
        found = sandbox_stats(sb, 0.0, ended + 1)
        shown = datetime.timedelta(hours=found.duration_seconds / 3600)  # as the client shows it
        if round(found.duration_seconds * CPU, 6) != round(shown.total_seconds() * CPU, 6):
            disagreements.append(found.duration_seconds)
    assert disagreements == []
