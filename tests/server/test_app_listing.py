"""Listing apps costs what is listed, not every app ever run: driven in-process, no server.

Every `python app.py` leaves a stopped app behind, and the embedded supervisor asks for the
app list twice a second to learn whether anything still runs. With 500 stopped apps that
listing took 0.5-2 s of the server's CPU (one summary, with its own store queries, per app),
so an idle embedded server kept a core busy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane
from nano_modal.server.deployments import Deployments
from nano_modal.server.sql_store import SqlStore

STOPPED_APPS = 50


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    yield control
    store.close()


def _statements(control: ControlPlane) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(control.store.engine, "before_cursor_execute", record)  # type: ignore[attr-defined]
    return seen


def test_live_listing_skips_stopped_apps_without_reading_them(control: ControlPlane) -> None:
    for i in range(STOPPED_APPS):
        app_id = control.create_app(f"old-{i}", ephemeral=True)
        control.create_function(app_id, api_pb2.FunctionDefinition(name="f"))
        control.stop_app(app_id)
    running = control.create_app("now", ephemeral=True)
    control.create_function(running, api_pb2.FunctionDefinition(name="g"))
    control.apps.clear()  # as after a restart: nothing of the old apps in memory
    control.functions.clear()
    deployments = Deployments(control)

    statements = _statements(control)
    live = deployments.summaries(control.store.list_apps("main", live_only=True))

    assert [(a.name, a.state, list(a.function_names)) for a in live] == [("now", "running", ["g"])]
    assert len(statements) <= 4, statements  # the list, the app, its functions: not one query per stopped app
    assert set(control.apps) == {running}  # stopped apps were not loaded into memory to be skipped

    everything = deployments.summaries(control.store.list_apps("main"))
    assert len(everything) == STOPPED_APPS + 1
    assert sum(a.state == "stopped" for a in everything) == STOPPED_APPS
