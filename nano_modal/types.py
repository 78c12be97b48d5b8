"""Records the API returns, named as in `modal.types`."""

from __future__ import annotations

import datetime
import decimal
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .volume import FileEntry, FileEntryType, VolumeCreateOptions

__all__ = [
    "AppInfo",
    "AppLifecycle",
    "AppState",
    "AppStats",
    "CloudBucketMountInfo",
    "DictInfo",
    "FileEntry",
    "FileEntryType",
    "FileInfo",
    "FileType",
    "FileWatchEvent",
    "FileWatchEventType",
    "FunctionAutoscalerSettings",
    "FunctionCurrentStats",
    "FunctionInfo",
    "FunctionStats",
    "InputInfo",
    "InputStatus",
    "LogEntry",
    "MetricDefinition",
    "MetricSeries",
    "MetricsSchema",
    "ObjectMetrics",
    "QueueInfo",
    "SandboxConnectCredentials",
    "SandboxStats",
    "SecretInfo",
    "ServerAutoscalerSettings",
    "ServerInfo",
    "ServerSessionCredentials",
    "ServerStats",
    "StatsPercentile",
    "StatsPercentileDistribution",
    "TimeSeriesPoint",
    "VolumeCreateOptions",
    "VolumeInfo",
    "VolumeMountInfo",
]


@dataclass(frozen=True)
class SandboxConnectCredentials:
    """`Sandbox.create_connect_token()`: the URL of the sandbox's port, and the token to send."""

    url: str
    token: str


class FileType(enum.Enum):
    """What a path in a sandbox is (`Sandbox.filesystem.stat`)."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


@dataclass
class FileInfo:
    """A file or directory in a sandbox (`Sandbox.filesystem.stat`, `.list_files`)."""

    name: str
    path: str
    type: FileType
    size: int
    mode: int
    permissions: str
    owner: str
    group: str
    modified_time: float
    symlink_target: str | None

    def is_file(self) -> bool:
        return self.type == FileType.FILE

    def is_dir(self) -> bool:
        return self.type == FileType.DIRECTORY

    def is_symlink(self) -> bool:
        return self.type == FileType.SYMLINK


@dataclass(frozen=True)
class FunctionCurrentStats:
    """A live function's load: `Function.get_current_stats()`."""

    backlog: int  # inputs waiting for a container
    num_total_runners: int  # live containers
    num_running_inputs: int = 0  # inputs containers hold now
    input_headroom: int = 0  # inputs the live containers could take on top (0 when unbounded)


@dataclass(frozen=True)
class FunctionAutoscalerSettings:
    """A function's scaling, as `Function.update_autoscaler()` leaves it (None: no bound)."""

    min_containers: int | None
    max_containers: int | None
    scaledown_window: int | None
    buffer_containers: int | None = None


@dataclass(frozen=True)
class DictInfo:
    """`Dict.info()`. `created_at` is None for an ephemeral object (the server lists named ones);
    `created_by` is None: a nano-modal server has tokens, not users."""

    name: str | None
    created_at: datetime.datetime | None
    created_by: str | None = None


@dataclass(frozen=True)
class QueueInfo(DictInfo):
    """`Queue.info()` (fields as DictInfo)."""


@dataclass(frozen=True)
class VolumeInfo(DictInfo):
    """`Volume.info()` (fields as DictInfo)."""


@dataclass(frozen=True)
class SecretInfo:
    """`Secret.info()`. `last_used` is None: the server does not record when a secret is read."""

    name: str | None
    environment_name: str | None
    created_at: datetime.datetime | None
    created_by: str | None = None
    last_used: datetime.datetime | None = None


@dataclass(frozen=True)
class LogEntry:
    """A line an object's container printed (`x.logs.tail()`): `object_id` is the object asked,
    `context_ids` the function call that printed it (when known) and the container's id."""

    message: str
    timestamp: datetime.datetime
    source: Literal["stdout", "stderr", "system"]
    object_id: str
    context_ids: list[str]

    def __str__(self) -> str:
        return self.message


class AppState(enum.Enum):
    """Where an app is in its life (nano-modal's apps are ephemeral, deployed or stopped)."""

    EPHEMERAL = "ephemeral"
    DETACHED = "detached"
    DEPLOYED = "deployed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    INITIALIZING = "initializing"
    DISABLED = "disabled"


@dataclass(frozen=True)
class AppLifecycle:
    """`AppInfo.lifecycle`. The `*_by` fields are "": a nano-modal server has tokens, not users;
    `stopped_at` is None: the server does not record when an app stopped."""

    state: AppState
    version: int | None
    created_at: datetime.datetime
    created_by: str = ""
    deployed_at: datetime.datetime | None = None
    deployed_by: str | None = None
    stopped_at: datetime.datetime | None = None
    stopped_by: str | None = None


@dataclass(frozen=True)
class AppInfo:
    """`App.info()`: the app's id, name, lifecycle, functions and Servers (name -> id)."""

    app_id: str
    description: str
    lifecycle: AppLifecycle
    functions: dict[str, str]
    servers: dict[str, str]


@dataclass(frozen=True)
class VolumeMountInfo:
    """A volume a function mounts (`FunctionInfo.volumes`, by mount path). `sub_path` is None:
    nano-modal mounts whole volumes."""

    name: str | None
    volume_id: str | None
    read_only: bool
    sub_path: str | None = None


@dataclass(frozen=True)
class CloudBucketMountInfo:
    """A bucket a function mounts (`FunctionInfo.cloud_bucket_mounts`, by mount path).
    bucket_type: "r2", "gcp" or "s3", from the endpoint's host name, as Modal tells them."""

    bucket_name: str
    bucket_type: Literal["s3", "r2", "gcp"]
    read_only: bool
    key_prefix: str | None


@dataclass(frozen=True)
class _BatchingInfo:
    max_batch_size: int
    wait_ms: int


@dataclass(frozen=True)
class _ConcurrencyInfo:
    max_inputs: int | None
    target_inputs: int | None


@dataclass(frozen=True)
class _ImageInfo:
    image_name: str | None
    image_id: str | None


@dataclass(frozen=True)
class _WebInfo:
    web_url: str
    method: str | None
    unauthenticated: bool


@dataclass(frozen=True)
class FunctionInfo:
    """`Function.info()`: how a function is configured, as the server holds it. Cloud-only fields
    (regions, cloud, ephemeral disk, startup timeout) are None; `nonpreemptible` is True (workers
    do not preempt); `secrets` are the secrets' ids."""

    BatchingInfo = _BatchingInfo
    ConcurrencyInfo = _ConcurrencyInfo
    ImageInfo = _ImageInfo
    WebInfo = _WebInfo

    cpu: float | None
    memory_mib: int | None
    gpus: list[tuple[str, int]]
    image_info: _ImageInfo
    timeout: int
    max_retries: int | None
    schedule: str | None
    restrict_modal_access: bool
    block_network: bool
    single_use_containers: bool
    volumes: dict[str, VolumeMountInfo]
    secrets: list[str]
    cloud_bucket_mounts: dict[str, CloudBucketMountInfo] = field(default_factory=dict)
    batching_info: _BatchingInfo | None = None
    concurrency_info: _ConcurrencyInfo | None = None
    web_info: _WebInfo | None = None
    method_names: list[str] | None = None
    nonpreemptible: bool = True
    ephemeral_disk_mib: int | None = None
    startup_timeout: int | None = None
    regions: list[str] | None = None
    routing_region: str | None = None
    cloud: str | None = None


def object_info(
    type_name: str, name: str | None, environment_name: str | None, created_at: datetime.datetime | None
) -> DictInfo | SecretInfo:
    if type_name == "Secret":
        return SecretInfo(name, environment_name, created_at)
    record = {"Dict": DictInfo, "Queue": QueueInfo, "Volume": VolumeInfo}[type_name]
    return record(name, created_at)


@dataclass(frozen=True)
class ServerAutoscalerSettings:
    """A Server's scaling, as `Server.update_autoscaler()` leaves it (None: no bound).
    `target_concurrency` is the requests a container takes at once; `buffer_containers` and
    `scaleup_window` are None: nano-modal's autoscaler has neither."""

    target_concurrency: int | float | None
    min_containers: int | None
    max_containers: int | None
    buffer_containers: int | None
    scaleup_window: int | None
    scaledown_window: int | None


@dataclass(frozen=True)
class _ServerClusterInfo:
    size: int
    rdma: bool
    fabric_size: int | None


@dataclass(frozen=True)
class ServerInfo:
    """`Server.info()`: the Server's HTTP settings and resources, as the server holds them.
    Cloud-only fields (routing region, regions, cloud, ephemeral disk, cluster) are None,
    `h2_enabled` is False, `nonpreemptible` True (workers do not preempt); `secrets` are ids."""

    ImageInfo = _ImageInfo
    ClusterInfo = _ServerClusterInfo

    server_url: str
    port: int
    unauthenticated: bool
    h2_enabled: bool
    routing_region: str | None
    sessioned: bool
    startup_timeout: int
    exit_grace_period: int
    image_info: _ImageInfo
    cpu: float | tuple[float, float] | None
    memory_mib: int | tuple[int, int] | None
    gpus: list[tuple[str, int]]
    ephemeral_disk_mib: int | None
    nonpreemptible: bool
    compute_regions: list[str] | None
    cloud: str | None
    cluster_info: _ServerClusterInfo | None
    volumes: dict[str, VolumeMountInfo]
    cloud_bucket_mounts: dict[str, object]
    secrets: list[str]


@dataclass(frozen=True)
class ServerSessionCredentials:
    """A sticky session of a Server (`server.sessions.start()`): requests carrying `token` (as
    `Modal-Authorization: Bearer <token>`) all go to the session's container."""

    session_id: str
    token: str


# ---------------------------------------------------------------- stats, metrics, call graphs


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


class FileWatchEventType(enum.Enum):
    """What happened to a path watched with `Sandbox.filesystem.watch()` (a rename is a Modify)."""

    Unknown = "Unknown"
    Access = "Access"
    Create = "Create"
    Modify = "Modify"
    Remove = "Remove"


@dataclass
class FileWatchEvent:
    """A change under a watched path: `paths` holds the path, or a rename's [source, destination]
    when both are in the watched scope."""

    paths: list[str]
    type: FileWatchEventType
