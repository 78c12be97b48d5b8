"""When a schedule fires next (server/schedules.py): periods in seconds, calendar months, cron rules."""

from __future__ import annotations

import datetime

from nano_modal.proto import api_pb2
from nano_modal.server.schedules import add_months, next_fire


def utc(*args: int) -> float:
    return datetime.datetime(*args, tzinfo=datetime.UTC).timestamp()  # type: ignore[misc]


def test_months_are_calendar_months() -> None:
    assert add_months(utc(2026, 1, 31, 9), 1) == utc(2026, 2, 28, 9)  # no Feb 31: its last day
    assert add_months(utc(2028, 1, 31), 1) == utc(2028, 2, 29)
    assert add_months(utc(2026, 11, 15), 3) == utc(2027, 2, 15)
    assert add_months(utc(2026, 3, 1), 24) == utc(2028, 3, 1)


def test_next_fire() -> None:
    monthly_and_a_day = api_pb2.Schedule(period_months=1, period_seconds=86400)
    assert next_fire(monthly_and_a_day, utc(2026, 4, 30)) == utc(2026, 5, 31)
    assert next_fire(api_pb2.Schedule(period_seconds=60), utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 1)
    assert next_fire(api_pb2.Schedule(cron="0 9 * * *", timezone="UTC"), utc(2026, 1, 1, 10)) == utc(2026, 1, 2, 9)
