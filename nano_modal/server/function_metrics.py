"""Function.metrics: time series of a function's calls, run times and containers, bucketed
from the same records as Function.stats (stats.py); the database sums each bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..proto import api_pb2
from .control import ControlPlane, Invalid
from .stats import FAILURE, SUCCESS, TIMEOUT, Containers, containers, count, function_ids
from .store import OutputBucket

MAX_POINTS = 500  # points per series (as Modal): a wider window needs wider buckets
MAX_RANGE = 31 * 86400  # seconds a window may span (as Modal)
# Bucket widths the server picks from when the caller names none: the smallest giving at most
# TARGET_BUCKETS points (Modal aims at about 100).
BUCKET_CHOICES = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
TARGET_BUCKETS = 100


@dataclass(frozen=True)
class Bucket:
    outputs: list[OutputBucket]  # the bucket's final outputs, summed by status
    containers: Containers  # the function's containers, seen over the bucket


@dataclass(frozen=True)
class Series:
    group: str
    name: str  # its last "_" part is its aggregation (count, mean, max), as Modal names series
    unit: str
    description: str
    value: Callable[[Bucket], float | None]  # None: nothing observed in the bucket


def _count(statuses: tuple[int, ...]) -> Callable[[Bucket], float | None]:
    return lambda bucket: float(count(bucket.outputs, statuses))


def _mean(total: Callable[[OutputBucket], float], n: Callable[[OutputBucket], int]) -> Callable[[Bucket], float | None]:
    def value(bucket: Bucket) -> float | None:
        observed = sum(n(b) for b in bucket.outputs)
        return sum(total(b) for b in bucket.outputs) / observed if observed else None

    return value


def _max(
    largest: Callable[[OutputBucket], float], n: Callable[[OutputBucket], int]
) -> Callable[[Bucket], float | None]:
    def value(bucket: Bucket) -> float | None:
        observed = [largest(b) for b in bucket.outputs if n(b)]
        return max(observed) if observed else None

    return value


SERIES: tuple[Series, ...] = (
    Series("calls", "successful_calls_count", "calls", "Inputs that returned", _count(SUCCESS)),
    Series("calls", "failed_calls_count", "calls", "Inputs that raised or whose container died", _count(FAILURE)),
    Series("calls", "timeout_calls_count", "calls", "Inputs that ran past their timeout", _count(TIMEOUT)),
    Series(
        "latency",
        "execution_time_seconds_mean",
        "s",
        "Mean time containers ran inputs",
        _mean(lambda b: b.run_sum, lambda b: b.run_count),
    ),
    Series(
        "latency",
        "execution_time_seconds_max",
        "s",
        "Longest time a container ran an input",
        _max(lambda b: b.run_max, lambda b: b.run_count),
    ),
    Series(
        "latency",
        "end_to_end_latency_seconds_mean",
        "s",
        "Mean time from an input's acceptance to its result",
        _mean(lambda b: b.latency_sum, lambda b: b.latency_count),
    ),
    Series(
        "latency",
        "end_to_end_latency_seconds_max",
        "s",
        "Longest time from an input's acceptance to its result",
        _max(lambda b: b.latency_max, lambda b: b.latency_count),
    ),
    Series(
        "containers",
        "containers_started_count",
        "containers",
        "Containers that became ready",
        lambda bucket: float(len(bucket.containers.started())),
    ),
    Series(
        "containers",
        "container_errors_count",
        "containers",
        "Containers that ended with an error of their own",
        lambda bucket: float(bucket.containers.errors),
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
    if request.until - request.since > MAX_RANGE:
        raise Invalid(f"a metrics window spans at most {MAX_RANGE // 86400} days")
    series = chosen_series(request.groups)
    width = bucket_seconds(request.since, request.until, request.bucket_secs)
    start = int(request.since) // width * width
    stop = int(request.until) // width * width  # the partial bucket at `until` is left out
    response = api_pb2.FunctionMetricsResponse(since=start, until=stop, bucket_secs=width)
    response.series.extend(
        api_pb2.MetricSeriesData(group=s.group, name=s.name, unit=s.unit, description=s.description) for s in series
    )
    if request.schema_only or start >= stop:
        return response
    ids, _ = function_ids(control, request.function_id, request.all_variants)
    seen = containers(control, ids, start, stop)
    by_bucket: dict[int, list[OutputBucket]] = {}
    for summed in control.store.output_buckets(ids, start, stop, width):
        by_bucket.setdefault(summed.bucket, []).append(summed)
    for index, bucket_start in enumerate(range(start, stop, width)):
        window = Containers(bucket_start, bucket_start + width, seen.exited, seen.live)
        bucket = Bucket(by_bucket.get(index, []), window)
        for spec, out in zip(series, response.series, strict=True):
            value = spec.value(bucket)
            point = out.points.add(timestamp=bucket_start)
            if value is not None:
                point.value = value
    return response
