"""Function.stats, Server.stats, App.stats and Sandbox._experimental_stats, computed from what
the server recorded of real executions: each final output's arrival, its input's acceptance
and run time and its container (the outputs table), the containers that exited
(container_runs) and those live now.

Counts come from the database's sums over the window (sql_stats.py); percentiles from the
window's newest `PERCENTILE_SAMPLE` outputs: a stats call is a bounded read however busy the
function was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..proto import api_pb2
from .control import ControlPlane, Invalid
from .sandboxes import SandboxState
from .state import Container, ContainerState
from .store import ContainerRunRow, OutputBucket

PERCENTILE_SAMPLE = 10_000  # newest outputs of a window its percentiles are taken over
PERCENTILES_BP = (5000, 9000, 9900)  # p50, p90, p99, in basis points as Modal reports them

SUCCESS = (api_pb2.OUTPUT_STATUS_SUCCESS,)
FAILURE = (api_pb2.OUTPUT_STATUS_FAILURE, api_pb2.OUTPUT_STATUS_CONTAINER_DIED, api_pb2.OUTPUT_STATUS_INIT_FAILURE)
TIMEOUT = (api_pb2.OUTPUT_STATUS_TIMEOUT,)

EXECUTION_TIME = "Execution time (s)"
END_TO_END = "End-to-end latency (s)"
STARTUP_TIME = "Startup time (s)"


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks of an ascending, non-empty sequence."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: Iterable[float], unit: str = "s") -> api_pb2.StatsPercentileDistribution | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return api_pb2.StatsPercentileDistribution(
        unit=unit,
        percentiles=[
            api_pb2.StatsPercentile(percentile_basis_points=bp, value=percentile(ordered, bp / 10_000))
            for bp in PERCENTILES_BP
        ],
    )


def count(buckets: Iterable[OutputBucket], statuses: tuple[int, ...]) -> int:
    return sum(b.count for b in buckets if b.status in statuses)


@dataclass
class Containers:
    """What the server knows of some functions' containers over [since, until)."""

    since: float
    until: float
    exited: list[ContainerRunRow]  # exited since the window began (up to now), placed before its end
    live: list[Container]  # live now, placed before `until`

    def started(self) -> list[float]:
        """Start-up seconds of the containers that said hello in the window."""
        runs = [(r.created_at, r.ready_at) for r in self.exited] + [(c.placed_at, c.ready_at) for c in self.live]
        return [ready - placed for placed, ready in runs if ready and self.since <= ready < self.until]

    @property
    def errors(self) -> int:
        return sum(1 for r in self.exited if r.failed and self.since <= r.exited_at < self.until)

    @property
    def total(self) -> int:
        exited = {r.container_id for r in self.exited if r.created_at < self.until}
        return len(exited | {c.container_id for c in self.live})


def containers(control: ControlPlane, ids: list[str], since: float, until: float, container_id: str = "") -> Containers:
    if since >= until:
        raise Invalid("`since` must be before `until`")
    # Containers that exited after the window may have started (or been active) in it.
    ended = control.store.container_runs(ids, since, max(until, time.time()) + 1)
    exited = [r for r in ended if r.created_at < until and (not container_id or r.container_id == container_id)]
    live = [
        c
        for fid in ids
        for c in control.containers.live_of_function(fid)
        if c.placed_at < until and (not container_id or c.container_id == container_id)
    ]
    return Containers(since, until, exited, live)


def function_ids(control: ControlPlane, function_id: str, all_variants: bool) -> tuple[list[str], int]:
    """The function (and with `all_variants` the variants bound from it), and how many variants it has."""
    fn = control._function(function_id)
    variants = [
        row.function_id
        for row in control.store.app_functions(fn.app_id)
        if row.function_id != function_id
        and api_pb2.FunctionDefinition.FromString(row.definition).parent_function_id == function_id
    ]
    return ([function_id, *variants] if all_variants else [function_id]), len(variants)


def function_stats(
    control: ControlPlane, request: api_pb2.FunctionTimeRangeStatsRequest
) -> api_pb2.FunctionTimeRangeStats:
    ids, variant_count = function_ids(control, request.function_id, request.all_variants)
    since, until, container_id = request.since, request.until, request.container_id
    seen = containers(control, ids, since, until, container_id)
    buckets = control.store.output_buckets(ids, since, until, 0, container_id)
    reaches_now = until >= time.time()  # what runs now runs at the window's end
    stats = api_pb2.FunctionTimeRangeStats(
        since=since,
        until=until,
        input_success_count=count(buckets, SUCCESS),
        input_failure_count=count(buckets, FAILURE),
        input_timeout_count=count(buckets, TIMEOUT),
        input_running_at_end_count=sum(len(c.held) for c in seen.live) if reaches_now else 0,
        container_started_count=len(seen.started()),
        container_error_count=seen.errors,
        container_creating_at_end_count=(
            sum(1 for c in seen.live if c.state == ContainerState.STARTING) if reaches_now else 0
        ),
        container_total_count=seen.total,
        variant_count=variant_count,
    )
    for status, n in control.web_requests.status_counts(ids, since, until, container_id).items():
        stats.request_count_by_status_code[status] = n
    sample = control.store.output_sample(ids, since, until, PERCENTILE_SAMPLE, container_id)
    for name, values in (
        (EXECUTION_TIME, [run for run, _ in sample if run > 0]),
        (END_TO_END, [latency for _, latency in sample if latency > 0]),
    ):
        found = distribution(values)
        if found is not None:
            stats.input_percentile_stats[name].CopyFrom(found)
    startup = distribution(seen.started())
    if startup is not None:
        stats.container_percentile_stats[STARTUP_TIME].CopyFrom(startup)
    return stats


def app_stats(control: ControlPlane, request: api_pb2.AppTimeRangeStatsRequest) -> api_pb2.AppTimeRangeStats:
    app = control.app(request.app_id)
    stats = api_pb2.AppTimeRangeStats(since=request.since, until=request.until, deployed=app.state == "deployed")
    for row in control.store.app_functions(app.app_id):
        fn = control._function(row.function_id)
        if fn.retired or fn.definition.parent_function_id:  # current functions only, by name (as Modal)
            continue
        seen = containers(control, [fn.function_id], request.since, request.until)
        buckets = control.store.output_buckets([fn.function_id], request.since, request.until, 0)
        stats.functions[fn.name].CopyFrom(
            api_pb2.AppFunctionCounts(
                function_id=fn.function_id,
                calls_succeeded=count(buckets, SUCCESS),
                calls_failed=count(buckets, FAILURE + TIMEOUT),
                container_errors=seen.errors,
                container_active_count=seen.total,
            )
        )
    if app.state == "deployed":
        stats.deployment_count = len(control.store.deployments(app.app_id))
    return stats


def sandbox_stats(sb: SandboxState, since: float, until: float) -> api_pb2.SandboxStatsResponse:
    """Sandbox._experimental_stats: how long the sandbox ran in [since, until) (0s: its creation,
    now) and what it reserved."""
    start = since or sb.created_at
    end = until or time.time()
    if start >= end:
        raise Invalid("`since` must be before `until`")
    ran_until = sb.ended_at or time.time()
    return api_pb2.SandboxStatsResponse(
        since=start,
        until=end,
        # Whole microseconds, as clients' timedeltas hold it: the cpu- and memory-seconds derived
        # from it then agree with the duration a client shows (they did not, 1 time in ~2).
        duration_seconds=round(max(0.0, min(end, ran_until) - max(start, sb.created_at)), 6),
        requested_cpu=sb.container.cpu,
        requested_memory_mb=sb.container.memory_mb,
    )
