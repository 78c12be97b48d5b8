"""Period and Cron as definitions: calendar months and years, and what is refused."""

from __future__ import annotations

import pytest

import nano_modal
from nano_modal.exception import InvalidError


def test_period_months_and_years_travel_as_calendar_months() -> None:
    schedule = nano_modal.Period(years=1, months=2, days=1).to_proto()
    assert schedule.period_months == 14 and schedule.period_seconds == 86400
    assert nano_modal.Period(months=1).to_proto().period_seconds == 0
    assert nano_modal.Period(hours=2).to_proto().period_months == 0


def test_period_refuses_what_is_not_a_positive_period() -> None:
    for bad in ({}, {"months": 0}, {"months": -1, "days": 40}, {"months": 1.5}, {"years": 1, "seconds": -1}):
        with pytest.raises(InvalidError):
            nano_modal.Period(**bad)
