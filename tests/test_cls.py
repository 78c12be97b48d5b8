"""Classes: parameters, lifecycle hooks, pools per parameter set, options; concurrency; batching."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import nano_modal
from nano_modal.exception import InvalidError
from tests.apps import lifecycle_app
from tests.apps.lifecycle_app import Counter, ExitRecorder, bad_batch, batch_sizes, overlap
from tests.conftest import Cluster
from tests.helpers import wait_for


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[None]:
    with lifecycle_app.app.run():
        yield


def test_parameters_and_enter_hook(running: None) -> None:
    first = Counter(start=10, label="a").bump.remote()
    assert first["value"] == 11 and first["label"] == "a"
    second = Counter(start=10, label="a").bump.remote()
    # Same parameters, same warm container: @enter ran once and state carried over.
    assert second["container"] == first["container"]
    assert second["entered_at"] == first["entered_at"]
    assert second["value"] == 12


def test_each_parameter_set_gets_its_own_pool(running: None) -> None:
    a = Counter(start=0, label="pool-a").bump.remote()
    b = Counter(start=0, label="pool-b").bump.remote()
    assert a["container"] != b["container"]
    assert Counter().bump.remote()["label"] == "plain"  # defaults


def test_generator_method(running: None) -> None:
    assert list(Counter(label="gen").countdown.remote_gen(3)) == [3, 2, 1]


def test_map_over_a_method(running: None) -> None:
    values = [r["value"] for r in Counter(start=100, label="map").bump.starmap([(), (), ()], order_outputs=False)]
    assert len(values) == 3 and all(v > 100 for v in values)


def test_with_options_gets_its_own_pool(running: None) -> None:
    plain = Counter(label="opts").bump.remote()
    tuned = Counter.with_options(cpu=0.5, timeout=30)(label="opts").bump.remote()
    assert tuned["container"] != plain["container"]


def test_bad_parameters_are_clear_errors(running: None) -> None:
    with pytest.raises(InvalidError, match="parameter 'start' of Counter must be int, got str"):
        Counter(start="3")
    with pytest.raises(InvalidError, match="has no parameter 'nope'"):
        Counter(nope=1)
    with pytest.raises(InvalidError, match="keyword only"):
        Counter(3)
    with pytest.raises(InvalidError, match="needs parameter 'directory'"):
        ExitRecorder()
    with pytest.raises(AttributeError, match="no method 'missing'"):
        Counter().missing  # noqa: B018


def test_local_method_call_runs_enter_hook() -> None:
    result = Counter(start=5).bump.local()
    assert result["value"] == 6


def test_exit_hook_runs_when_the_app_stops(cluster: Cluster, tmp_path: Path) -> None:
    with lifecycle_app.app.run():
        assert ExitRecorder(directory=str(tmp_path)).ping.remote() == "pong"
    assert wait_for(lambda: (tmp_path / "exited").exists(), timeout=15)


def test_concurrent_inputs_share_one_container(running: None) -> None:
    started = time.monotonic()
    results = list(overlap.map(range(8)))
    elapsed = time.monotonic() - started
    containers = {r[2] for r in results}
    threads = {r[3] for r in results}
    assert len(containers) == 1, containers
    assert len(threads) > 1
    # Eight half-second inputs at once: about half a second, not four.
    assert elapsed < 3.0


def test_batched_inputs_are_gathered(running: None) -> None:
    results = list(batch_sizes.map(range(10)))
    assert [x for x, _ in results] == list(range(10))
    assert max(size for _, size in results) > 1  # they really were batched
    assert all(size <= 5 for _, size in results)


def test_batched_function_returning_wrong_length_fails_every_caller(running: None) -> None:
    results = list(bad_batch.map(range(4), return_exceptions=True))
    assert all(isinstance(r, TypeError) for r in results), results
    assert "must return a list of" in str(results[0])


def test_invalid_decorator_arguments() -> None:
    with pytest.raises(InvalidError, match="max_inputs"):
        nano_modal.concurrent(max_inputs=0)
    with pytest.raises(InvalidError, match="max_batch_size"):
        nano_modal.batched(max_batch_size=0, wait_ms=10)
    app = nano_modal.App("invalid")
    with pytest.raises(InvalidError, match=r"no @nano_modal\.method"):

        @app.cls(serialized=True)
        class Empty:
            pass
