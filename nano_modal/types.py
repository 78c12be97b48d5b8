"""Records the API returns, named as in `modal.types`."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Literal

from ._types_stats import (
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

    @classmethod
    def of(cls, backlog: int, num_total_runners: int, num_running_inputs: int, slots: int) -> FunctionCurrentStats:
        """From the server's counts (FunctionStats); `slots`: inputs one container takes at once.
        The SDK and Modal's client (server/modal_compat/functions.py) both read it this way."""
        headroom = max(0, num_total_runners * max(1, slots) - num_running_inputs - backlog)
        return cls(backlog, num_total_runners, num_running_inputs, headroom)


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
