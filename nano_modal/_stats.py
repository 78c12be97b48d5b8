"""The SDK's side of Function.stats, Function.metrics, Server.stats, Server.metrics, App.stats,
Sandbox._experimental_stats and FunctionCall.get_call_graph:
requests out, records of nano_modal.types back (the server computes the numbers: server/stats.py)."""

from __future__ import annotations

import datetime
from typing import Any

from ._utils.aio import twin
from .client import Client
from .exception import InvalidError
from .proto import api_pb2
from .types import (
    AppLifecycle,
    AppStats,
    FunctionStats,
    InputInfo,
    InputStatus,
    MetricDefinition,
    MetricSeries,
    MetricsSchema,
    ObjectMetrics,
    SandboxStats,
    ServerStats,
    StatsPercentile,
    StatsPercentileDistribution,
    TimeSeriesPoint,
)

DEFAULT_WINDOW = datetime.timedelta(hours=1)  # as Modal: the most recent hour
UTC = datetime.UTC


def window(since: datetime.datetime | None, until: datetime.datetime | None) -> tuple[float, float]:
    """[since, until) as unix seconds; naive datetimes are local time, as in Modal."""
    end = (until or datetime.datetime.now(UTC)).astimezone(UTC)
    start = (since or end - DEFAULT_WINDOW).astimezone(UTC)
    if start >= end:
        raise InvalidError("`since` must be before `until`.")
    return start.timestamp(), end.timestamp()


def _time(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, UTC)


def _distributions(found: Any) -> dict[str, StatsPercentileDistribution]:
    return {
        name: StatsPercentileDistribution(
            unit=d.unit,
            percentiles=[StatsPercentile(p.percentile_basis_points / 100, p.value) for p in d.percentiles],
        )
        for name, d in found.items()
    }


async def _time_range_stats(
    client: Client,
    function_id: str,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    container: str | None,
    all_variants: bool,
) -> api_pb2.FunctionTimeRangeStats:
    start, end = window(since, until)
    request = api_pb2.FunctionTimeRangeStatsRequest(
        function_id=function_id, since=start, until=end, container_id=container or "", all_variants=all_variants
    )
    found: api_pb2.FunctionTimeRangeStats = await client.stub.FunctionGetTimeRangeStats(request)
    return found


async def server_stats(
    client: Client,
    function_id: str,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    container: str | None,
) -> ServerStats:
    """A Server's function's stats, its inputs being its web requests."""
    found = await _time_range_stats(client, function_id, since, until, container, all_variants=False)
    requests = found.input_success_count + found.input_failure_count + found.input_timeout_count
    return ServerStats(
        since=_time(found.since),
        until=_time(found.until),
        request_count=requests,
        request_count_by_status_code=dict(sorted(found.request_count_by_status_code.items())),
        request_rate_per_second=requests / (found.until - found.since),
        request_percentile_stats=_distributions(found.input_percentile_stats),
        container_started_count=found.container_started_count,
        container_error_count=found.container_error_count,
        container_creating_at_end_count=found.container_creating_at_end_count,
        container_total_count=found.container_total_count,
        container_percentile_stats=_distributions(found.container_percentile_stats),
        inference=None,
    )


async def function_stats(
    client: Client,
    function_id: str,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    container: str | None,
    all_variants: bool,
) -> FunctionStats:
    found = await _time_range_stats(client, function_id, since, until, container, all_variants)
    return FunctionStats(
        since=_time(found.since),
        until=_time(found.until),
        input_success_count=found.input_success_count,
        input_failure_count=found.input_failure_count,
        input_timeout_count=found.input_timeout_count,
        input_running_at_end_count=found.input_running_at_end_count,
        input_percentile_stats=_distributions(found.input_percentile_stats),
        container_started_count=found.container_started_count,
        container_error_count=found.container_error_count,
        container_creating_at_end_count=found.container_creating_at_end_count,
        container_percentile_stats=_distributions(found.container_percentile_stats),
        container_total_count=found.container_total_count,
        variant_count=found.variant_count,
        all_variants=all_variants,
    )


class FunctionMetricsManager:
    """`Function.metrics`: time series of the function's calls, latencies and containers."""

    def __init__(self, function: Any) -> None:
        self._function = function

    @twin
    async def schema(self, groups: list[str] | None = None) -> dict[str, MetricsSchema]:
        """The metric groups (all, or those named) and their series, without samples."""
        found = await self._ask(None, None, None, groups, all_variants=False, schema_only=True)
        schema: dict[str, MetricsSchema] = {}
        for series in found.series:
            group = schema.setdefault(series.group, MetricsSchema(series.group, []))
            group.definitions.append(MetricDefinition(series.name, series.unit, series.description))
        return schema

    @twin
    async def export(
        self,
        *,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        bucket_size: datetime.timedelta | None = None,
        groups: list[str] | None = None,
        all_variants: bool = False,
    ) -> ObjectMetrics:
        """Samples over [since, until) (the last hour by default), in UTC-aligned buckets of
        `bucket_size` (at least a minute; by default ~100 buckets), of the groups named (all by
        default). A bucket with nothing observed has value None."""
        return await self._export(since, until, bucket_size, groups, all_variants)

    async def _export(
        self,
        since: datetime.datetime | None,
        until: datetime.datetime | None,
        bucket_size: datetime.timedelta | None,
        groups: list[str] | None,
        all_variants: bool,
    ) -> ObjectMetrics:
        found = await self._ask(since, until, bucket_size, groups, all_variants, schema_only=False)
        series = {
            s.name: MetricSeries(
                name=s.name,
                unit=s.unit,
                aggregation=s.name.rsplit("_", 1)[-1],
                description=s.description,
                points=[
                    TimeSeriesPoint(_time(p.timestamp), p.value if p.HasField("value") else None) for p in s.points
                ],
            )
            for s in found.series
        }
        return ObjectMetrics(
            object_id=self._function.object_id,
            since=_time(found.since),
            until=_time(found.until),
            bucket_size=datetime.timedelta(seconds=found.bucket_secs),
            point_count=sum(len(s.points) for s in series.values()),
            series=series,
        )

    async def _ask(
        self,
        since: datetime.datetime | None,
        until: datetime.datetime | None,
        bucket_size: datetime.timedelta | None,
        groups: list[str] | None,
        all_variants: bool,
        schema_only: bool,
    ) -> api_pb2.FunctionMetricsResponse:
        if groups is not None and (not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups)):
            raise InvalidError("`groups` must be a list of nonempty group names.")
        if bucket_size is not None and not isinstance(bucket_size, datetime.timedelta):
            raise InvalidError("`bucket_size` must be a timedelta.")
        start, end = window(since, until)
        client, function_id = await self._function._hydrated()
        request = api_pb2.FunctionMetricsRequest(
            function_id=function_id,
            since=start,
            until=end,
            bucket_secs=int(bucket_size.total_seconds()) if bucket_size is not None else 0,
            groups=groups or [],
            all_variants=all_variants,
            schema_only=schema_only,
        )
        response: api_pb2.FunctionMetricsResponse = await client.stub.FunctionGetMetrics(request)
        return response


class ServerMetricsManager(FunctionMetricsManager):
    """`Server.metrics`: the series of its function (each web request is one of its calls)."""

    @twin
    async def export(  # a Server has no variants: no all_variants=
        self,
        *,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        bucket_size: datetime.timedelta | None = None,
        groups: list[str] | None = None,
    ) -> ObjectMetrics:
        """As `Function.metrics.export`: [since, until) (the last hour by default) in UTC-aligned
        buckets of `bucket_size`, of the groups named (all by default)."""
        return await self._export(since, until, bucket_size, groups, all_variants=False)


async def sandbox_stats(
    client: Client, sandbox_id: str, since: datetime.datetime | None, until: datetime.datetime | None
) -> SandboxStats:
    """[since, until) defaults to the sandbox's life so far (its creation to now)."""
    start = since.astimezone(UTC).timestamp() if since is not None else 0.0
    end = until.astimezone(UTC).timestamp() if until is not None else 0.0
    if since is not None and until is not None and start >= end:
        raise InvalidError("`since` must be before `until`.")
    found = await client.stub.SandboxGetStats(
        api_pb2.SandboxStatsRequest(sandbox_id=sandbox_id, since=start, until=end)
    )
    gib = found.requested_memory_mb / 1024
    return SandboxStats(
        since=_time(found.since),
        until=_time(found.until),
        duration=datetime.timedelta(seconds=found.duration_seconds),
        percentile_stats={},
        cost=None,
        cost_by_resource={},
        billed_cpu_core_seconds=found.requested_cpu * found.duration_seconds,
        billed_memory_gib_seconds=gib * found.duration_seconds,
    )


async def app_stats(
    client: Client,
    app_id: str,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    lifecycle: AppLifecycle,
) -> AppStats:
    start, end = window(since, until)
    found = await client.stub.AppGetTimeRangeStats(
        api_pb2.AppTimeRangeStatsRequest(app_id=app_id, since=start, until=end)
    )
    by_name = {
        name: AppStats.FunctionStats(
            row.function_id,
            AppStats.FunctionCounts(
                AppStats.CallCounts(row.calls_succeeded + row.calls_failed, row.calls_succeeded, row.calls_failed),
                AppStats.ContainerCounts(row.container_errors, row.container_active_count),
            ),
        )
        for name, row in found.functions.items()
    }
    counts = [entry.counts for entry in by_name.values()]
    total = AppStats.FunctionCounts(
        AppStats.CallCounts(*(sum(getattr(c.calls, f) for c in counts) for f in ("total", "succeeded", "failed"))),
        AppStats.ContainerCounts(*(sum(getattr(c.containers, f) for c in counts) for f in ("errors", "total"))),
    )
    no_servers = AppStats.ServerCounts(AppStats.RequestCounts(0, 0, 0), AppStats.ContainerCounts(0, 0))
    return AppStats(
        since=_time(found.since),
        until=_time(found.until),
        functions=AppStats.FunctionStatsGroup(total, by_name),
        servers=AppStats.ServerStatsGroup(no_servers, {}),
        sandboxes=AppStats.SandboxCounts(
            found.sandboxes_finished + found.sandboxes_live, found.sandboxes_finished, found.sandboxes_live
        ),
        lifecycle=lifecycle,
        deployment_count=found.deployment_count if found.deployed else None,
    )


def call_graph_tree(graph: api_pb2.FunctionCallGraph) -> list[InputInfo]:
    """The graph's inputs as trees: each call's inputs hang under the input that made the call."""
    calls = {c.call_id: c for c in graph.function_calls}
    nodes = {
        i.input_id: InputInfo(
            i.input_id,
            i.call_id,
            i.task_id,
            InputStatus(i.status),
            calls[i.call_id].function_name if i.call_id in calls else "",
            calls[i.call_id].module_name if i.call_id in calls else "",
            [],
        )
        for i in graph.inputs
    }
    roots: list[InputInfo] = []
    for node in nodes.values():
        parent_id = calls[node.function_call_id].parent_input_id if node.function_call_id in calls else ""
        parent = nodes.get(parent_id)
        if parent is not None:
            parent.children.append(node)
        else:
            roots.append(node)
    return roots
