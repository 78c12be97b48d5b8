"""The control plane's guarantees: retries, container deaths, max_inputs, max_containers."""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nano_modal.exception import ContainerDiedError
from tests.conftest import Cluster, start_server, start_worker, stop
from tests.helpers import run_script

# ---------------------------------------------------------------- retries on exceptions


def test_retries_after_exceptions(core_app: Any, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    started = time.monotonic()
    assert core_app.flaky.remote(str(counter), 2) == 3
    assert counter.read_text() == "3"
    assert time.monotonic() - started < 30


def test_retries_exhausted_raises_last_exception(core_app: Any, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    # max_retries=3: four attempts in all, then the last failure is final.
    with pytest.raises(RuntimeError, match="attempt 4 failed"):
        core_app.flaky.remote(str(counter), 10)
    assert counter.read_text() == "4"


def test_retries_apply_to_map_inputs(core_app: Any, tmp_path: Path) -> None:
    counters = [str(tmp_path / f"c{i}") for i in range(3)]
    assert list(core_app.flaky.map(counters, [1, 0, 2])) == [2, 1, 3]


# ---------------------------------------------------------------- container deaths


def test_container_death_is_retried(core_app: Any, tmp_path: Path) -> None:
    marker = tmp_path / "first-attempt"
    assert core_app.die_once_retried.remote(str(marker)) == "survived"
    assert marker.exists()  # the first attempt did run, and died


def test_container_death_without_retries_raises_container_died(core_app: Any, tmp_path: Path) -> None:
    marker = tmp_path / "first-attempt"
    started = time.monotonic()
    with pytest.raises(ContainerDiedError) as info:
        core_app.die_once.remote(str(marker))
    assert time.monotonic() - started < 30
    message = str(info.value)
    assert "die_once" in message
    assert "exit" in message and "code 1" in message
    # Nothing was retried behind our back: the next call is a fresh attempt that succeeds.
    assert core_app.die_once.remote(str(marker)) == "survived"


def test_container_killed_by_signal_raises_container_died(core_app: Any, tmp_path: Path) -> None:
    with pytest.raises(ContainerDiedError, match="signal 9"):
        core_app.kill9_once.remote(str(tmp_path / "first-attempt"))


def test_map_with_one_dying_input_yields_every_other_result_once(core_app: Any) -> None:
    # One container (max_containers=1) takes the fast inputs in batches, so the inputs before the
    # fatal one have finished when it dies: only the fatal input may be reported as dead.
    n, bad = 30, 7
    results = list(core_app.die_on_single.map(range(n), [bad] * n, return_exceptions=True))
    assert len(results) == n
    for i, result in enumerate(results):
        if i == bad:
            assert isinstance(result, ContainerDiedError), f"input {i}: {result!r}"
        else:
            assert result == i * 10, f"input {i}: {result!r}"


def test_unordered_map_with_one_dying_input(core_app: Any) -> None:
    n, bad = 20, 3
    results = list(core_app.die_on.map(range(n), [bad] * n, order_outputs=False, return_exceptions=True))
    died = [r for r in results if isinstance(r, ContainerDiedError)]
    values = Counter(r for r in results if not isinstance(r, BaseException))
    assert len(died) == 1, results
    assert values == Counter(i * 10 for i in range(n) if i != bad)


def test_map_with_dying_input_raises_without_return_exceptions(core_app: Any) -> None:
    with pytest.raises(ContainerDiedError):
        list(core_app.die_on.map(range(5), [2] * 5))


# ---------------------------------------------------------------- max_inputs, max_containers


def test_max_inputs_one_gives_fresh_container_per_input(core_app: Any) -> None:
    first_container, first_pid = core_app.one_shot.remote()
    second_container, second_pid = core_app.one_shot.remote()
    assert first_container != second_container
    assert first_pid != second_pid


def test_max_containers_one_runs_inputs_one_at_a_time(core_app: Any) -> None:
    calls = [core_app.exclusive.spawn(i, 0.3) for i in range(4)]
    spans = sorted((start, end) for _, start, end, _ in (call.get(timeout=120) for call in calls))
    assert len(spans) == 4
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start, f"inputs overlapped: {spans}"


def test_max_containers_one_in_map(core_app: Any) -> None:
    results = list(core_app.exclusive.map(range(4), [0.2] * 4))
    assert [x for x, *_ in results] == [0, 1, 2, 3]
    spans = sorted((start, end) for _, start, end, _ in results)
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start, f"inputs overlapped: {spans}"


# ---------------------------------------------------------------- capacity held by idle containers


@pytest.mark.timeout(120)
def test_a_container_loading_its_function_is_not_joined_by_another(cluster: Cluster, tmp_path: Path) -> None:
    """Between its hello and its first request for inputs (the @enter hook here), a container
    counts as taking the waiting input: one call, one container."""
    proc = run_script(
        tmp_path,
        """
        import os, time
        import nano_modal

        app = nano_modal.App("one-call-one-container")

        @app.cls()
        class Slow:
            @nano_modal.enter()
            def load(self):
                print("ENTERED", os.environ["NANO_MODAL_CONTAINER_ID"], flush=True)
                time.sleep(2)

            @nano_modal.method()
            def ping(self):
                return os.environ["NANO_MODAL_CONTAINER_ID"]

        if __name__ == "__main__":  # containers import this file too (as Modal's do)
            with app.run():
                print("ANSWERED", Slow().ping.remote(), flush=True)
                time.sleep(1)  # a second container's hook, had one been placed, would have printed by now
        """,
        env=cluster.env(),
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entered = [line for line in proc.stdout.splitlines() if "ENTERED" in line]
    assert len(entered) == 1, proc.stdout


def test_idle_containers_of_one_function_do_not_starve_another(tmp_path: Path) -> None:
    """A worker whose capacity is all reserved by *idle* warm containers must still run other functions.

    Runs against a private server and worker so that the capacity is known exactly.
    """
    state = tmp_path / "server"
    state.mkdir()
    token = secrets.token_urlsafe(16)
    server, url = start_server(state, token)
    worker = start_worker(url, token, state / "worker.log")
    try:
        env = {**os.environ, "NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": token}
        proc = run_script(
            tmp_path,
            """
            import os, time
            import nano_modal
            from nano_modal import config

            app = nano_modal.App("capacity")
            WORKER_CAPACITY = float(os.cpu_count() or 1) * config.WORKER_CPU_OVERCOMMIT

            @app.function(cpu=WORKER_CAPACITY)  # one container reserves the whole worker
            def hog():
                return "hog done"

            @app.function()
            def small():
                return "small done"

            if __name__ == "__main__":  # containers import this file too (as Modal's do)
                with app.run(show_logs=False):
                    print(hog.remote(), flush=True)  # its container now idles, warm for the scaledown window
                    started = time.monotonic()
                    try:
                        print(small.spawn().get(timeout=10))
                    except TimeoutError:
                        print("small timed out")
                    print("ELAPSED", round(time.monotonic() - started, 1))
            """,
            env=env,
            timeout=100,
        )
    finally:
        stop(worker)
        stop(server)
    assert "hog done" in proc.stdout, proc.stdout + proc.stderr
    assert "small done" in proc.stdout, f"the idle hog container was not evicted to make room:\n{proc.stdout}"
