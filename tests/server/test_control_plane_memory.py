"""What the control plane keeps in memory stays bounded: driven in-process, no server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane
from nano_modal.server.scheduler import Scheduler
from nano_modal.server.sql_store import SqlStore

A_DAY = 86400.0  # far past any retention window


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    control.register_worker(api_pb2.WorkerRegisterRequest(worker_id="wk-1", hostname="h", cpu=4, memory_mb=8192))
    yield control
    store.close()


def test_exited_containers_are_forgotten_after_the_retention_window(
    control: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 containers started and exited leave no entry once the retention window has passed
    (they used to stay forever, and the scheduler walked every one of them on every tick)."""
    app_id = control.create_app("leak", ephemeral=True)
    function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="f"))
    fn = control.functions[function_id]
    for _ in range(1000):
        container = control.place_container(fn)
        assert container is not None
        control.container_hello(container)
        control.stop_container(container)
        control.container_exited(container.container_id, 0, "scaled down")
    assert len(control.workers["wk-1"].to_stop) == 1000  # each was told to stop on its worker
    later = time.monotonic() + A_DAY
    monkeypatch.setattr(time, "monotonic", lambda: later)
    Scheduler(control).reap()
    assert len(control.containers) == 0
