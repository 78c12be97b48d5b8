"""Calling functions: remote, map and friends, spawn / FunctionCall, generators, async twins."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

import nano_modal
from nano_modal.exception import InputCancellation, InvalidError, NotFoundError, SerializationError
from nano_modal.serialization import serialize, serialize_args
from tests.helpers import run_script, wait_for

MIB = 1024 * 1024


def blob_path(cluster: Any, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return cluster.state_dir / "blobs" / digest[:2] / digest


# ---------------------------------------------------------------- remote


def test_remote_returns_value(core_app: Any) -> None:
    assert core_app.square.remote(7) == 49
    assert core_app.add.remote("a", "b") == "ab"


def test_remote_passes_args_and_kwargs(core_app: Any) -> None:
    assert core_app.add.remote(1, y=2, z=3) == 6
    assert core_app.echo_args.remote(1, [2, 3], key={"nested": (4, 5)}, other=None) == {
        "args": [1, [2, 3]],
        "kwargs": {"key": {"nested": (4, 5)}, "other": None},
    }


def test_async_function_runs_remotely(core_app: Any) -> None:
    assert core_app.async_double.remote(21) == 42


def test_large_argument_goes_through_blob_store(core_app: Any, cluster: Any) -> None:
    data = core_app.random_bytes(3 * MIB, seed=1)
    assert core_app.blob_info.remote(data) == (len(data), hashlib.sha256(data).hexdigest())
    # The pickled arguments exceed the inline limit, so they were uploaded as a blob.
    assert blob_path(cluster, serialize_args("blob_info", (data,), {})).exists()


def test_large_return_value_goes_through_blob_store(core_app: Any, cluster: Any) -> None:
    result = core_app.make_bytes.remote(3 * MIB, 2)
    assert result == core_app.random_bytes(3 * MIB, 2)
    assert blob_path(cluster, serialize(result)).exists()


def test_large_payloads_in_map(core_app: Any) -> None:
    datas = [core_app.random_bytes(3 * MIB, seed) for seed in (3, 4)]
    assert list(core_app.blob_info.map(datas)) == [(len(d), hashlib.sha256(d).hexdigest()) for d in datas]


# ---------------------------------------------------------------- map family


def test_map_preserves_input_order(core_app: Any) -> None:
    n = 8
    # Later inputs finish sooner, so completion order differs from input order.
    results = list(core_app.slow_identity.map(range(n), [(n - i) * 0.03 for i in range(n)]))
    assert results == list(range(n))


def test_map_unordered_returns_same_multiset(core_app: Any) -> None:
    items = [3, 1, 3, 2, 5, 1, 0, 4]
    results = list(core_app.square.map(items, order_outputs=False))
    assert sorted(results) == sorted(x * x for x in items)


def test_map_zips_multiple_iterables(core_app: Any) -> None:
    # zip semantics: the shortest iterable decides the length.
    assert list(core_app.add.map([1, 2, 3], [10, 20, 30, 40])) == [11, 22, 33]


def test_map_with_kwargs(core_app: Any) -> None:
    assert list(core_app.add.map([1, 2, 3], kwargs={"z": 100})) == [101, 102, 103]


def test_map_empty_input(core_app: Any) -> None:
    assert list(core_app.square.map([])) == []


def test_starmap(core_app: Any) -> None:
    assert list(core_app.add.starmap([(1, 2), (3, 4), ("x", "y")])) == [3, 7, "xy"]
    assert list(core_app.add.starmap([(1, 2), (3, 4)], kwargs={"z": 10})) == [13, 17]


def test_for_each_runs_every_input(core_app: Any, tmp_path: Path) -> None:
    paths = [str(tmp_path / f"f{i}") for i in range(5)]
    assert core_app.touch.for_each(paths, [f"content {i}" for i in range(5)]) is None
    assert [Path(p).read_text() for p in paths] == [f"content {i}" for i in range(5)]


def test_map_return_exceptions_yields_exception_objects(core_app: Any) -> None:
    results = list(core_app.fail_if.map(range(6), kwargs={"bad": (2, 4)}, return_exceptions=True))
    assert len(results) == 6
    for i, result in enumerate(results):
        if i in (2, 4):
            assert isinstance(result, ValueError)
            assert f"bad input {i}" in str(result)
        else:
            assert result == i


def test_map_exception_raises_same_type(core_app: Any) -> None:
    with pytest.raises(ValueError, match="bad input 3"):
        list(core_app.fail_if.map(range(5), kwargs={"bad": (3,)}))


# ---------------------------------------------------------------- spawn and FunctionCall


def test_spawn_and_get(core_app: Any) -> None:
    call = core_app.square.spawn(12)
    assert isinstance(call, nano_modal.FunctionCall)
    assert call.object_id
    assert call.get(timeout=60) == 144
    assert call.get() == 144  # the result stays available


def test_get_timeout_raises_timeout_error(core_app: Any) -> None:
    call = core_app.slow_identity.spawn("late", 3.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):  # the builtin must catch it
        call.get(timeout=0.5)
    assert time.monotonic() - started < 2.5
    # Timing out a get does not cancel the call.
    assert call.get(timeout=60) == "late"


def test_function_call_from_id_in_another_process(core_app: Any, cluster: Any, tmp_path: Path) -> None:
    call = core_app.slow_identity.spawn({"from": "another process"}, 0.5)
    proc = run_script(
        tmp_path,
        """
        import sys
        import nano_modal

        print("RESULT", repr(nano_modal.FunctionCall.from_id(sys.argv[1]).get(timeout=60)))
        """,
        call.object_id,
        env=cluster.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "RESULT {'from': 'another process'}" in proc.stdout


def test_function_call_from_unknown_id_raises_not_found(cluster: Any) -> None:
    with pytest.raises(NotFoundError):
        nano_modal.FunctionCall.from_id("fc-0000000000000000").get(timeout=5)


def test_cancel_stops_running_call(core_app: Any, tmp_path: Path) -> None:
    started, marker = tmp_path / "started", tmp_path / "marker"
    call = core_app.sleep_then_touch.spawn(str(started), str(marker), 2.0)
    assert wait_for(started.exists, 60), "the call never started"
    call.cancel()
    time.sleep(3.0)  # well past the point where the function would have written the marker
    assert not marker.exists(), "the cancelled call kept running"
    with pytest.raises(InputCancellation):
        call.get(timeout=10)


def test_spawn_map_get_returns_list(core_app: Any) -> None:
    call = core_app.square.spawn_map(range(6))
    assert isinstance(call, nano_modal.FunctionCall)
    assert call.get(timeout=60) == [0, 1, 4, 9, 16, 25]


def test_experimental_spawn_map_is_spawn_map(core_app: Any) -> None:
    assert core_app.square.experimental_spawn_map(range(3)).get(timeout=60) == [0, 1, 4]


def test_spawn_map_from_id_returns_list(core_app: Any) -> None:
    call = core_app.add.spawn_map([1, 2, 3], [4, 5, 6])
    assert nano_modal.FunctionCall.from_id(call.object_id).get(timeout=60) == [5, 7, 9]


# ---------------------------------------------------------------- generators


def test_remote_gen_streams_values(core_app: Any) -> None:
    received: list[tuple[Any, float]] = []
    for value in core_app.ticker.remote_gen(3, 0.7):
        received.append((value, time.time()))
    assert [value[0] for value, _ in received] == [0, 1, 2]
    first_arrival = received[0][1]
    last_produced = received[-1][0][1]
    # The first value reached us before the generator had produced its last one.
    assert first_arrival < last_produced


def test_a_returned_generator_object_is_an_error_naming_the_function(core_app: Any) -> None:
    """Its values used to be dropped: the caller got None."""
    with pytest.raises(TypeError, match="returns_a_generator returned a generator object"):
        core_app.returns_a_generator.remote(3)


def test_an_unpicklable_return_value_is_an_error_naming_the_function(core_app: Any) -> None:
    """It used to be a bare TypeError ("cannot pickle '_thread.lock' object")."""
    with pytest.raises(SerializationError, match="returns_unpicklable returned a lock that cannot be pickled"):
        core_app.returns_unpicklable.remote()


def test_remote_on_generator_raises_invalid_error(core_app: Any) -> None:
    with pytest.raises(InvalidError):
        core_app.ticker.remote(2, 0)


def test_remote_gen_on_plain_function_raises_invalid_error(core_app: Any) -> None:
    with pytest.raises(InvalidError):
        list(core_app.square.remote_gen(2))


def test_map_on_generator_raises_invalid_error(core_app: Any) -> None:
    with pytest.raises(InvalidError):
        list(core_app.ticker.map([1], [0]))


# ---------------------------------------------------------------- async twins


def test_async_twins(core_app: Any) -> None:
    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["remote"] = await core_app.square.remote.aio(5)
        out["map"] = [x async for x in core_app.square.map.aio(range(4))]
        out["starmap"] = [x async for x in core_app.add.starmap.aio([(1, 1), (2, 2)])]
        call = await core_app.square.spawn.aio(6)
        out["spawn"] = await call.get.aio(timeout=60)
        out["gen"] = [v[0] async for v in core_app.ticker.remote_gen.aio(3, 0)]
        out["gather"] = await asyncio.gather(*(core_app.add.remote.aio(i, 1) for i in range(3)))
        return out

    assert asyncio.run(main()) == {
        "remote": 25,
        "map": [0, 1, 4, 9],
        "starmap": [2, 4],
        "spawn": 36,
        "gen": [0, 1, 2],
        "gather": [1, 2, 3],
    }


def test_async_get_timeout(core_app: Any) -> None:
    async def main() -> None:
        call = await core_app.slow_identity.spawn.aio(1, 3.0)
        with pytest.raises(TimeoutError):
            await call.get.aio(timeout=0.3)

    asyncio.run(main())


# ---------------------------------------------------------------- by-value functions


def test_serialized_function_defined_in_a_test(cluster: Any) -> None:
    factor = 7
    lock_free_state = {"offset": 1}
    app = nano_modal.App("serialized-tests")

    @app.function(serialized=True)
    def scale(x: int) -> tuple[int, bool]:
        return x * factor + lock_free_state["offset"], nano_modal.is_local()

    with app.run():
        assert scale.remote(3) == (22, False)
        assert list(scale.map([0, 1])) == [(1, False), (8, False)]


def test_nested_function_without_serialized_is_rejected() -> None:
    app = nano_modal.App("nested-tests")
    with pytest.raises(InvalidError, match="serialized=True"):

        @app.function()
        def inner() -> None:
            pass


def test_function_in_main_script_is_sent_by_value(cluster: Any, tmp_path: Path) -> None:
    proc = run_script(
        tmp_path,
        """
        import nano_modal

        app = nano_modal.App("main-script")
        SUFFIX = "-from-main"

        def helper(x):
            return f"{x}{SUFFIX}"

        @app.function()
        def shout(x):
            return helper(x).upper(), nano_modal.is_local()

        if __name__ == "__main__":
            with app.run(show_logs=False):
                print("REMOTE", shout.remote("hi"))
                print("MAP", list(shout.map(["a", "b"])))
        """,
        env=cluster.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "REMOTE ('HI-FROM-MAIN', False)" in proc.stdout
    assert "MAP [('A-FROM-MAIN', False), ('B-FROM-MAIN', False)]" in proc.stdout
