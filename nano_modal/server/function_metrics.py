"""Function.metrics: time series of a function's calls, latencies and containers, bucketed
from the same records as Function.stats (stats.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..proto import api_pb2
from .control import ControlPlane, Invalid
from .stats import (
    BUCKET_CHOICES,
    FAILURE,
    METRIC_PERCENTILES,
    SUCCESS,
    TARGET_BUCKETS,
    TIMEOUT,
    Window,
    execution_times,
    function_ids,
    latencies,
    percentile,
    window,
)
from .store import OutputTiming

MAX_POINTS = 500  # points per series (as Modal): a wider window needs wider buckets


@dataclass(frozen=True)
class Series:
    group: str
    name: str  # its last "_" part is its aggregation (count, p50, ...), as Modal names series
    unit: str
    description: str
    value: Callable[[Window], float | None]  # over one bucket's window


def _count(statuses: tuple[int, ...]) -> Callable[[Window], float | None]:
    return lambda bucket: float(bucket.count(statuses))


def _quantile(values: Callable[[Iterable[OutputTiming]], list[float]], q: float) -> Callable[[Window], float | None]:
    def value(bucket: Window) -> float | None:
        found = sorted(values(bucket.outputs))
        return percentile(found, q) if found else None  # nothing observed: no value

    return value


SERIES: tuple[Series, ...] = (
    Series("calls", "successful_calls_count", "calls", "Inputs that returned", _count(SUCCESS)),
    Series("calls", "failed_calls_count", "calls", "Inputs that raised or whose container died", _count(FAILURE)),
    Series("calls", "timeout_calls_count", "calls", "Inputs that ran past their timeout", _count(TIMEOUT)),
    *(
        Series(
            "latency",
            f"execution_time_seconds_{label}",
            "s",
            f"{label} of the time containers ran inputs",
            _quantile(execution_times, q),
        )
        for label, q in METRIC_PERCENTILES
    ),
    *(
        Series(
            "latency",
            f"end_to_end_latency_seconds_{label}",
            "s",
            f"{label} of the time from an input's acceptance to its result",
            _quantile(latencies, q),
        )
        for label, q in METRIC_PERCENTILES
    ),
    Series(
        "containers",
        "containers_started_count",
        "containers",
        "Containers that became ready",
        lambda bucket: float(len(bucket.started())),
    ),
    Series(
        "containers",
        "container_errors_count",
        "containers",
        "Containers that ended with an error of their own",
        lambda bucket: float(bucket.errors),
    ),
)
GROUPS = tuple(dict.fromkeys(series.group for series in SERIES))


def bucket_seconds(since: float, until: float, asked: int) -> int:
    if asked:
        if asked < 60:
            raise Invalid("`bucket_size` must be a whole number of seconds, at least one minute")
        if int(until) // asked - int(since) // asked > MAX_POINTS:
            raise Invalid(f"metrics are limited to {MAX_POINTS} points per series; increase `bucket_size`")
        return asked
    for width in BUCKET_CHOICES:
        if (until - since) / width <= TARGET_BUCKETS:
            return width
    return BUCKET_CHOICES[-1]


def chosen_series(groups: Iterable[str]) -> list[Series]:
    wanted = list(groups)
    unknown = sorted(set(wanted) - set(GROUPS))
    if unknown:
        raise Invalid(f"unknown metrics group {', '.join(unknown)}: the groups are {', '.join(GROUPS)}")
    return [series for series in SERIES if not wanted or series.group in wanted]


def function_metrics(control: ControlPlane, request: api_pb2.FunctionMetricsRequest) -> api_pb2.FunctionMetricsResponse:
    if request.since >= request.until:
        raise Invalid("`since` must be before `until`")
    series = chosen_series(request.groups)
    width = bucket_seconds(request.since, request.until, request.bucket_secs)
    start = int(request.since) // width * width
    stop = int(request.until) // width * width  # the partial bucket at `until` is left out
    response = api_pb2.FunctionMetricsResponse(since=start, until=stop, bucket_secs=width)
    data = [
        api_pb2.MetricSeriesData(group=s.group, name=s.name, unit=s.unit, description=s.description) for s in series
    ]
    response.series.extend(data)
    if request.schema_only or start >= stop:
        return response
    ids, _ = function_ids(control, request.function_id, request.all_variants)
    seen = window(control, ids, start, stop)
    by_bucket: dict[int, list[OutputTiming]] = {}
    for output in seen.outputs:
        by_bucket.setdefault(int(output.finished_at) // width * width, []).append(output)
    for bucket_start in range(start, stop, width):
        outputs = by_bucket.get(bucket_start, [])
        bucket = Window(bucket_start, bucket_start + width, outputs, seen.exited, seen.live, reaches_now=False)
        for spec, out in zip(series, response.series, strict=True):
            value = spec.value(bucket)
            point = out.points.add(timestamp=bucket_start)
            if value is not None:
                point.value = value
    return response
