"""The scheduler's pass, driven in-process: one failing step does not stop the others."""

from __future__ import annotations

import logging
import time

import pytest

from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.control import ControlPlane
from nano_modal.server.scheduler import Scheduler


def test_a_schedule_that_cannot_start_stalls_nothing_else(
    control: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    """A scheduled function no worker can run raised on every pass, which ended the pass before
    the reaper and the autoscaler: an unrelated function's call never got a container, and the
    server logged "scheduler pass failed" 20 times a second."""
    app_id = control.create_app("cron", ephemeral=False)
    control.apps[app_id].state = "deployed"
    too_big = api_pb2.FunctionDefinition(name="nightly", cpu=64, schedule=api_pb2.Schedule(period_seconds=1))
    nightly = control.create_function(app_id, too_big)
    other_app = control.create_app("web", ephemeral=True)
    other = control.create_function(other_app, api_pb2.FunctionDefinition(name="handler"))
    control.start_call(
        other,
        api_pb2.CALL_KIND_REMOTE,
        [api_pb2.FunctionInput(idx=0, args=api_pb2.Payload(data=serialize(((), {}))))],
        True,
    )
    scheduler = Scheduler(control)
    caplog.set_level(logging.INFO, logger="nano_modal.server")
    for _ in range(200):
        scheduler.schedules.last_fire[nightly] = time.time() - 60  # due again on every pass
        scheduler.tick()
    started = [spec.function_id for spec in control.workers["wk-1"].to_start]
    assert started == [other]  # the unrelated function got its container
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert 1 <= len(failures) <= 2, [r.getMessage() for r in failures]
    assert "nightly" in failures[0].getMessage()
    logs = control.store.tail_logs(app_id, 1000)
    assert any("could not start" in row.data and "cpu=64" in row.data for row in logs)  # the user sees why
