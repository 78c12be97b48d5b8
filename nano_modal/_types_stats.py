"""The records of stats, metrics and call graphs (`Function.stats`, `App.stats`,
`Server.stats`, `Function.metrics`, `FunctionCall.get_call_graph`, sandbox stats), named as in
`modal.types`, which re-exports them (kept apart: nano_modal/types.py holds the rest)."""

from __future__ import annotations

import datetime
import decimal
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import AppLifecycle  # (types.py imports this module)


@dataclass(frozen=True)
class StatsPercentile:
    """One percentile of a distribution: `percentile` in percent (50.0 is the median)."""

    percentile: float
    value: float


@dataclass(frozen=True)
class StatsPercentileDistribution:
    unit: str
    percentiles: list[StatsPercentile]


@dataclass(frozen=True)
class FunctionStats:
    """`Function.stats()`: a function's inputs and containers over [since, until).

    `input_percentile_stats` has "Execution time (s)" (as the container measured it) and
    "End-to-end latency (s)" (from the input's acceptance to its result); `container_percentile_stats`
    has "Startup time (s)" (placed to ready). Counts at the end are known for a window reaching now."""

    since: datetime.datetime
    until: datetime.datetime
    input_success_count: int
    input_failure_count: int
    input_timeout_count: int
    input_running_at_end_count: int
    input_percentile_stats: dict[str, StatsPercentileDistribution]
    container_started_count: int
    container_error_count: int
    container_creating_at_end_count: int
    container_percentile_stats: dict[str, StatsPercentileDistribution]
    container_total_count: int
    variant_count: int
    all_variants: bool


@dataclass(frozen=True)
class TimeSeriesPoint:
    """A metric sample at a UTC bucket start. A bucket with nothing observed has value None."""

    time: datetime.datetime
    value: float | None


@dataclass(frozen=True)
class MetricSeries:
    """One series of `Function.metrics.export()`, its points ordered by time."""

    name: str
    unit: str
    aggregation: str
    points: list[TimeSeriesPoint]
    description: str = ""


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    unit: str
    description: str


@dataclass(frozen=True)
class MetricsSchema:
    """A metrics group (`calls`, `latency`, `containers`) and its series."""

    name: str
    definitions: list[MetricDefinition]


@dataclass(frozen=True)
class ObjectMetrics:
    """Exported metrics over the bucket-aligned [since, until)."""

    object_id: str
    since: datetime.datetime
    until: datetime.datetime
    bucket_size: datetime.timedelta
    point_count: int
    series: dict[str, MetricSeries]

    def __getitem__(self, name: str) -> MetricSeries:
        return self.series[name]


class InputStatus(enum.IntEnum):
    """Where an input of a call graph is (numbered as Modal's)."""

    PENDING = 0
    SUCCESS = 1
    FAILURE = 2
    TERMINATED = 3
    TIMEOUT = 4
    INIT_FAILURE = 5

    @classmethod
    def _missing_(cls, value: object) -> InputStatus:
        return cls.PENDING


@dataclass
class InputInfo:
    """A node of `FunctionCall.get_call_graph()`: an input, the container that ran it (`task_id`)
    and the inputs of the calls it made (`children`)."""

    input_id: str
    function_call_id: str
    task_id: str
    status: InputStatus
    function_name: str
    module_name: str
    children: list[InputInfo]


@dataclass(frozen=True)
class _CallCounts:
    """Completed inputs; each map item counts."""

    total: int
    succeeded: int
    failed: int


@dataclass(frozen=True)
class _ContainerCounts:
    """Containers that ended with an error of their own, and containers active in the window."""

    errors: int
    total: int


@dataclass(frozen=True)
class _FunctionCounts:
    calls: _CallCounts
    containers: _ContainerCounts


@dataclass(frozen=True)
class _FunctionEntry:
    object_id: str
    counts: _FunctionCounts


@dataclass(frozen=True)
class _RequestCounts:
    total: int
    ok: int
    failed: int


@dataclass(frozen=True)
class _ServerCounts:
    requests: _RequestCounts
    containers: _ContainerCounts


@dataclass(frozen=True)
class _ServerEntry:
    object_id: str
    counts: _ServerCounts


@dataclass(frozen=True)
class _FunctionStatsGroup(Mapping[str, _FunctionEntry]):
    """Totals across the app's functions, and each function's by name."""

    total: _FunctionCounts
    by_name: dict[str, _FunctionEntry]

    def __getitem__(self, name: str) -> _FunctionEntry:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)


@dataclass(frozen=True)
class _ServerStatsGroup(Mapping[str, _ServerEntry]):
    """Always empty: nano-modal has no modal.Server."""

    total: _ServerCounts
    by_name: dict[str, _ServerEntry]

    def __getitem__(self, name: str) -> _ServerEntry:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)


@dataclass(frozen=True)
class _SandboxCounts:
    """Sandboxes the server still knows of that finished, those live at the end; total is both."""

    total: int
    finished: int
    live: int


@dataclass(frozen=True)
class AppStats:
    """`App.stats()`: the app's functions' calls and containers over [since, until), by name."""

    CallCounts = _CallCounts
    ContainerCounts = _ContainerCounts
    FunctionCounts = _FunctionCounts
    FunctionStats = _FunctionEntry
    RequestCounts = _RequestCounts
    ServerCounts = _ServerCounts
    ServerStats = _ServerEntry
    FunctionStatsGroup = _FunctionStatsGroup
    ServerStatsGroup = _ServerStatsGroup
    SandboxCounts = _SandboxCounts

    since: datetime.datetime
    until: datetime.datetime
    functions: _FunctionStatsGroup
    servers: _ServerStatsGroup
    sandboxes: _SandboxCounts
    lifecycle: AppLifecycle
    deployment_count: int | None


@dataclass(frozen=True)
class _ServerInferenceStats:
    """Inference-engine statistics (Modal's vLLM/SGLang integration; nano-modal reports none)."""

    engine: str
    status: str
    percentile_stats: dict[str, StatsPercentileDistribution]
    scalar_stats: dict[str, float]


@dataclass(frozen=True)
class ServerStats:
    """`Server.stats()`: a Server's web requests and containers over [since, until).

    Each request is an input of the Server's function: `request_percentile_stats` has
    "Execution time (s)" and "End-to-end latency (s)" as FunctionStats does;
    `request_count_by_status_code` is by the HTTP status the gateway answered (kept by the
    active server, in memory: server/web_requests.py). `inference` is always None."""

    InferenceStats = _ServerInferenceStats

    since: datetime.datetime
    until: datetime.datetime
    request_count: int
    request_count_by_status_code: dict[int, int]
    request_rate_per_second: float
    request_percentile_stats: dict[str, StatsPercentileDistribution]
    container_started_count: int
    container_error_count: int
    container_creating_at_end_count: int
    container_total_count: int
    container_percentile_stats: dict[str, StatsPercentileDistribution]
    inference: _ServerInferenceStats | None


@dataclass(frozen=True)
class SandboxStats:
    """`Sandbox._experimental_stats()`: a sandbox's run over [since, until).

    nano-modal samples no usage and has no bill: `percentile_stats` is empty, `cost` None and
    `cost_by_resource` empty; the billed figures are what Modal bills when nothing more was
    measured, the requested cores and memory times `duration`."""

    since: datetime.datetime
    until: datetime.datetime
    duration: datetime.timedelta
    percentile_stats: dict[str, StatsPercentileDistribution]
    cost: decimal.Decimal | None
    cost_by_resource: dict[str, decimal.Decimal]
    billed_cpu_core_seconds: float
    billed_memory_gib_seconds: float
