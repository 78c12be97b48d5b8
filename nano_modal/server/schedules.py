"""Fire scheduled functions of deployed apps on time.

The last fire time of each schedule is stored with the call it created, in one
transaction: a restarted server neither misses a run that came due while it was down
(it fires once for it) nor fires one twice.

A run that cannot start (its function cannot be placed, the app was stopped meanwhile)
is skipped, with a line in the app's logs that says why: the schedule tries again at its
next due time, not on every scheduler pass.
"""

from __future__ import annotations

import calendar
import datetime
import logging
import time
import zoneinfo
from typing import TYPE_CHECKING

from croniter import croniter

from ..proto import api_pb2
from ..serialization import serialize
from .control import ControlPlane
from .state import FunctionRuntime

if TYPE_CHECKING:
    from .scheduler import FailureLog

log = logging.getLogger("nano_modal.server")
_NO_ARGS = serialize(((), {}))


def next_fire(schedule: api_pb2.Schedule, after: float) -> float:
    if schedule.period_months:  # calendar months: Jan 31 + 1 month is Feb 28 (or 29), as Modal's Period
        return add_months(after, schedule.period_months) + schedule.period_seconds
    if schedule.period_seconds:
        return after + schedule.period_seconds
    tz = zoneinfo.ZoneInfo(schedule.timezone or "UTC")
    start = datetime.datetime.fromtimestamp(after, tz)
    return float(croniter(schedule.cron, start).get_next(float))


def add_months(timestamp: float, months: int) -> float:
    """`timestamp` plus calendar months in UTC; a day past the month's end is its last day."""
    when = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day).timestamp()


class ScheduleRunner:
    def __init__(self, control: ControlPlane, failures: FailureLog) -> None:
        self.control = control
        self.failures = failures
        self.last_fire: dict[str, float] = {}  # function id -> the scheduled time it last fired for

    def tick(self) -> None:
        now = time.time()
        for fn in list(self.control.functions.values()):
            schedule = fn.definition.schedule
            if not (schedule.period_seconds or schedule.period_months or schedule.cron) or fn.retired:
                continue
            app = self.control.apps.get(fn.app_id)
            if app is None or app.state != "deployed":
                continue
            with self.failures.isolated(f"the schedule of {fn.name} ({fn.function_id})"):
                self._tick_one(fn, schedule, now)

    def _tick_one(self, fn: FunctionRuntime, schedule: api_pb2.Schedule, now: float) -> None:
        last = self._last(fn, now)
        due = next_fire(schedule, last)
        if due > now:
            return
        while (following := next_fire(schedule, due)) <= now:  # runs missed while down: fire once
            due = following
        try:
            self._fire(fn, due)
        except Exception as exc:
            self.last_fire[fn.function_id] = due  # skip this run: the next try is at the next due time
            when = datetime.datetime.fromtimestamp(due).strftime("%Y-%m-%d %H:%M:%S")
            self.control.system_log(fn, f"schedule: the run for {when} could not start: {exc}")
            raise

    def _last(self, fn: FunctionRuntime, now: float) -> float:
        if fn.function_id not in self.last_fire:
            stored = self.control.store.schedule_last_fire(fn.function_id)
            self.last_fire[fn.function_id] = stored if stored is not None else now  # count from deployment
            if stored is None:
                self.control.store.set_schedule_last_fire(fn.function_id, now)
        return self.last_fire[fn.function_id]

    def _fire(self, fn: FunctionRuntime, due: float) -> None:
        call = self.control.start_call(
            fn.function_id,
            api_pb2.CALL_KIND_SPAWN,
            [api_pb2.FunctionInput(idx=0, args=api_pb2.Payload(data=_NO_ARGS))],
            True,
            schedule_fire=due,
        )
        self.last_fire[fn.function_id] = due
        when = datetime.datetime.fromtimestamp(due).strftime("%Y-%m-%d %H:%M:%S")
        self.control.system_log(fn, f"schedule: run for {when} started as call {call.call_id}")
        log.info("schedule fired %s (due %s): %s", fn.name, when, call.call_id)
