"""Function.stats, Function.metrics, App.stats and FunctionCall.get_call_graph (nano_modal/_stats.py,
server/stats.py, function_metrics.py, call_graph.py), computed from real runs on a real server."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from types import ModuleType

import pytest

import nano_modal
from nano_modal._utils.aio import run_blocking
from nano_modal.client import Client
from nano_modal.exception import InvalidError
from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize_args
from nano_modal.types import InputInfo, InputStatus
from tests.conftest import Cluster

N = 6  # successful inputs of `work` in the window


@pytest.fixture(scope="module")
def stats_app(cluster: Cluster) -> Iterator[ModuleType]:
    from tests.apps import stats_app as module

    with module.app.run():
        yield module


@pytest.fixture(scope="module")
def ran(stats_app: ModuleType) -> datetime.datetime:
    """Runs `work` N times and once failing, `crash` once; returns when they began."""
    began = datetime.datetime.now(datetime.UTC)
    assert list(stats_app.work.map(range(N))) == [x * x for x in range(N)]
    with pytest.raises(ValueError):
        stats_app.work.remote(-1)
    with pytest.raises(Exception, match="exited with code 3"):
        stats_app.crash.remote()
    return began


def test_function_stats_count_inputs_and_measure_them(stats_app: ModuleType, ran: datetime.datetime) -> None:
    stats = stats_app.work.stats(since=ran)
    assert (stats.input_success_count, stats.input_failure_count, stats.input_timeout_count) == (N, 1, 0)
    assert stats.since == ran and stats.all_variants is False
    execution = {p.percentile: p.value for p in stats.input_percentile_stats["Execution time (s)"].percentiles}
    latency = {p.percentile: p.value for p in stats.input_percentile_stats["End-to-end latency (s)"].percentiles}
    assert set(execution) == {50.0, 90.0, 99.0}
    # Every input slept WORK_SECONDS in its container, and its caller waited at least that long.
    assert stats_app.WORK_SECONDS <= execution[50] <= execution[90] <= execution[99]
    assert execution[50] <= latency[50]
    assert stats.container_total_count >= 1 and stats.container_started_count >= 1
    assert stats.container_percentile_stats["Startup time (s)"].percentiles[0].value > 0
    assert stats.container_error_count == 0


def test_function_stats_count_a_dead_container(stats_app: ModuleType, ran: datetime.datetime) -> None:
    stats = stats_app.crash.stats(since=ran)
    assert (stats.input_success_count, stats.input_failure_count) == (0, 1)
    assert stats.container_error_count == 1


def test_function_stats_keep_to_the_window_and_container(stats_app: ModuleType, ran: datetime.datetime) -> None:
    before = stats_app.work.stats(since=ran - datetime.timedelta(hours=1), until=ran)
    assert before.input_success_count == 0 and before.input_percentile_stats == {}
    other = stats_app.work.stats(since=ran, container="ta-not-a-container")
    assert other.input_success_count == 0 and other.container_total_count == 0
    with pytest.raises(InvalidError, match="before"):
        stats_app.work.stats(since=ran, until=ran)


def test_metrics_export_buckets_the_calls(stats_app: ModuleType, ran: datetime.datetime) -> None:
    now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)  # the current minute, whole
    metrics = stats_app.work.metrics.export(since=ran, until=now, bucket_size=datetime.timedelta(minutes=1))
    assert metrics.bucket_size == datetime.timedelta(minutes=1) and metrics.object_id == stats_app.work.object_id
    successes = metrics["successful_calls_count"]
    assert successes.aggregation == "count" and successes.unit == "calls"
    assert sum(p.value or 0 for p in successes.points) == N
    assert sum(p.value or 0 for p in metrics["failed_calls_count"].points) == 1
    means = [p.value for p in metrics["execution_time_seconds_mean"].points if p.value is not None]
    assert means and min(means) >= stats_app.WORK_SECONDS
    assert metrics["execution_time_seconds_max"].aggregation == "max"
    only_calls = stats_app.work.metrics.export(since=ran, until=now, groups=["calls"])
    assert set(only_calls.series) == {"successful_calls_count", "failed_calls_count", "timeout_calls_count"}
    schema = stats_app.work.metrics.schema()
    assert set(schema) == {"calls", "latency", "containers"}
    assert "successful_calls_count" in {d.name for d in schema["calls"].definitions}
    with pytest.raises(InvalidError, match="unknown metrics group"):
        stats_app.work.metrics.export(groups=["nope"])


def test_app_stats_by_function(stats_app: ModuleType, ran: datetime.datetime) -> None:
    stats = stats_app.app.stats(since=ran)
    work = stats.functions["work"]
    assert work.object_id == stats_app.work.object_id
    assert (work.counts.calls.total, work.counts.calls.succeeded, work.counts.calls.failed) == (N + 1, N, 1)
    assert stats.functions["crash"].counts.containers.errors == 1
    assert stats.functions.total.calls.succeeded >= N and len(stats.servers) == 0
    assert stats.deployment_count is None and stats.lifecycle.state == nano_modal.types.AppState.EPHEMERAL


def _names(node: InputInfo) -> list[str]:
    return sorted(child.function_name for child in node.children)


@pytest.mark.parametrize("parent_name", ["parent", "parent_async"])
def test_call_graph_of_calls_made_in_a_container(stats_app: ModuleType, parent_name: str) -> None:
    parent = getattr(stats_app, parent_name)
    call = parent.spawn(2)
    call.get()
    graph = call.get_call_graph()
    assert len(graph) == 1
    root = graph[0]
    assert (root.function_name, root.function_call_id) == (parent_name, call.object_id)
    assert root.status == InputStatus.SUCCESS
    assert root.task_id.startswith("ta-") and root.module_name == "tests.apps.stats_app"
    expected = 3 if parent_name == "parent" else 2  # `parent` also spawns one
    assert _names(root) == ["child"] * expected
    assert all(c.status == InputStatus.SUCCESS and c.task_id and not c.children for c in root.children)
    # From a child's call, the same tree (from its root).
    child_call = nano_modal.FunctionCall.from_id(root.children[0].function_call_id)
    assert [node.input_id for node in child_call.get_call_graph()] == [root.input_id]


def test_call_graph_of_a_call_from_a_client_is_its_inputs(stats_app: ModuleType) -> None:
    call = stats_app.child.spawn(1)
    call.get()
    (only,) = call.get_call_graph()
    assert (only.function_name, only.children, only.status) == ("child", [], InputStatus.SUCCESS)


def test_a_client_cannot_hang_its_call_under_another_input(stats_app: ModuleType) -> None:
    """The parent a call names is kept only from the container running that input: anyone else
    naming it (here the admin's client) leaves the other call's graph as it was."""
    call = stats_app.parent.spawn(0)
    call.get()
    (root,) = call.get_call_graph()
    client = run_blocking(Client.get())
    request = api_pb2.FunctionMapRequest(
        function_id=stats_app.child.object_id,
        kind=api_pb2.CALL_KIND_SPAWN,
        inputs=[
            api_pb2.FunctionInput(idx=0, args=run_blocking(client.make_payload(serialize_args("child", (1,), {}))))
        ],
        inputs_complete=True,
        parent_input_id=root.input_id,
    )
    intruder = run_blocking(client.stub.FunctionMap(request)).call_id
    assert nano_modal.FunctionCall.from_id(intruder).get() == 2
    (after,) = call.get_call_graph()
    assert intruder not in {c.function_call_id for c in after.children}
    assert _names(after) == ["child"]  # the one `parent` spawned


def test_function_stats_of_all_variants(stats_app: ModuleType, ran: datetime.datetime) -> None:
    variant = stats_app.work.with_options(timeout=77)  # its own pool of containers
    assert variant.remote(3) == 9
    base = stats_app.work.stats(since=ran)
    both = stats_app.work.stats(since=ran, all_variants=True)
    assert base.variant_count == both.variant_count == 1 and both.all_variants
    assert (base.input_success_count, both.input_success_count) == (N, N + 1)
    assert both.container_total_count > base.container_total_count
