"""Inside the container: timeouts, failures to load the function, the runtime context."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from nano_modal.exception import FunctionTimeoutError

# ---------------------------------------------------------------- timeout


def test_timeout_raises_function_timeout_error(core_app: Any) -> None:
    started = time.monotonic()
    with pytest.raises(FunctionTimeoutError) as info:
        core_app.sleepy.remote(20.0)
    assert time.monotonic() - started < 12, "the timeout was not enforced"
    message = str(info.value)
    assert "sleepy" in message
    assert "1s" in message
    assert isinstance(info.value, TimeoutError)
    # The timed-out container is replaced: the next call works.
    assert core_app.sleepy.remote(0.0) == 0.0


def test_timeout_in_map_only_affects_slow_input(core_app: Any) -> None:
    # One container takes the inputs in a batch: the fast inputs before the slow one finish
    # first, and their results must survive the timeout of the slow one.
    results = list(core_app.sleepy_single.map([0.0, 0.0, 5.0, 0.1], return_exceptions=True))
    assert results[0] == 0.0, results
    assert results[1] == 0.0, results
    assert isinstance(results[2], FunctionTimeoutError), results
    assert results[3] == 0.1, results


# ---------------------------------------------------------------- runtime context


def test_current_ids_are_set_remotely(core_app: Any) -> None:
    call = core_app.where.spawn()
    info = call.get(timeout=60)
    assert info["call_id"] == call.object_id
    assert info["input_id"]
    assert info["input_id"] != info["call_id"]
    assert info["container_id"]


def test_current_ids_in_map(core_app: Any) -> None:
    infos = list(core_app.where.map(range(4)))
    assert len({i["input_id"] for i in infos}) == 4
    assert all(i["input_id"] for i in infos)
    call_ids = {i["call_id"] for i in infos}
    assert len(call_ids) == 1 and None not in call_ids
    # Two separate calls have different call ids.
    assert core_app.where.remote()["call_id"] not in call_ids


# ---------------------------------------------------------------- function that fails to load


@pytest.fixture(scope="module")
def broken_app(cluster: Any) -> Iterator[Any]:
    from tests.apps import broken_import_app as module

    with module.app.run(show_logs=False):
        yield module


@pytest.mark.timeout(90)
def test_import_failure_in_container_is_reported(broken_app: Any) -> None:
    started = time.monotonic()
    with pytest.raises(Exception, match="refuses to be imported inside a container"):
        broken_app.never_runs.remote(1)
    assert time.monotonic() - started < 30
    # Later calls fail fast with the same reason instead of hanging.
    started = time.monotonic()
    with pytest.raises(Exception, match="refuses to be imported inside a container"):
        broken_app.never_runs.remote(2)
    assert time.monotonic() - started < 10


@pytest.mark.timeout(90)
def test_import_failure_in_map_is_reported(broken_app: Any) -> None:
    with pytest.raises(Exception, match="refuses to be imported inside a container"):
        list(broken_app.never_runs.map(range(3)))
