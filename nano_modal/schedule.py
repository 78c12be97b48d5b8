"""Schedules for deployed functions: `Period` (every so often) and `Cron` (at set times)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from croniter import croniter

from .exception import InvalidError
from .proto import api_pb2


@dataclass(frozen=True)
class Period:
    """Run every `years`/`months`/`weeks`/`days`/`hours`/`minutes`/`seconds`, counted from the
    deployment. Months and years are calendar ones (from Jan 31, one month on is Feb 28 or 29).

    ```python
    @app.function(schedule=nano_modal.Period(hours=1))
    def hourly(): ...
    ```
    """

    days: float = 0
    hours: float = 0
    minutes: float = 0
    seconds: float = 0
    weeks: float = 0
    months: int = 0
    years: int = 0

    def __post_init__(self) -> None:
        if not all(isinstance(n, int) for n in (self.months, self.years)):
            raise InvalidError(f"a Period's months and years must be whole numbers, got {self}")
        if self.total_seconds() < 0 or self.total_months() < 0 or self.total_seconds() + self.total_months() <= 0:
            raise InvalidError(f"a Period must be positive, got {self}")

    def total_seconds(self) -> float:
        """The part below a month, in seconds (months and years: total_months())."""
        return self.weeks * 604800 + self.days * 86400 + self.hours * 3600 + self.minutes * 60 + self.seconds

    def total_months(self) -> int:
        return self.years * 12 + self.months

    def to_proto(self) -> api_pb2.Schedule:
        return api_pb2.Schedule(period_seconds=self.total_seconds(), period_months=self.total_months())


@dataclass(frozen=True)
class Cron:
    """Run at the times a cron rule names, e.g. `Cron("0 9 * * 1-5", timezone="Europe/Paris")`."""

    cron_string: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron_string):
            raise InvalidError(f"not a valid cron rule: {self.cron_string!r}")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidError(f"unknown timezone {self.timezone!r}") from None

    def to_proto(self) -> api_pb2.Schedule:
        return api_pb2.Schedule(cron=self.cron_string, timezone=self.timezone)
