"""The durable state of the control plane, behind one interface.

Callers speak in plain rows; implementations decide how they are kept. The SQL
implementation (sql_store.py) serves SQLite (embedded default) and, through SQLAlchemy,
any database it supports. Everything a client was told was accepted is written here
before the answer goes out, so a restarted server can pick up where it stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from .workspace_limits import Limits


@dataclass
class AppRow:
    app_id: str
    name: str
    state: str  # "running" (ephemeral, client attached) | "deployed" | "stopped"
    ephemeral: bool
    created_at: float
    version: int = 0  # current deployment; 0 for ephemeral apps
    workspace: str = "main"  # its functions, calls, containers and sandboxes are in it too
    tags: dict[str, str] = field(default_factory=dict)  # App(tags=), App.set_tags


@dataclass
class ProxyTokenRow:
    secret_hash: str  # sha256 of the secret: the secret itself is shown once, at creation
    workspace: str  # it opens this workspace's endpoints with requires_proxy_auth=True, no other's


@dataclass
class DeploymentRow:
    app_id: str
    version: int
    tag: str
    created_at: float
    spec: bytes  # serialized api_pb2.AppDeployRequest: everything needed to deploy it again
    rollback_of: int = 0  # the version this deployment restored, if it was a rollback


@dataclass
class LogRow:
    app_id: str
    timestamp: float
    function_name: str
    container_id: str
    fd: int
    data: str
    call_id: str = ""  # the function call that printed it ("" unknown: before any input, or not said)


@dataclass
class FunctionRow:
    function_id: str
    app_id: str
    name: str
    definition: bytes  # serialized api_pb2.FunctionDefinition
    created_at: float


@dataclass
class CallRow:
    call_id: str
    function_id: str
    kind: int
    num_inputs: int
    inputs_complete: bool
    cancelled: bool
    created_at: float
    parent_input_id: str = ""  # the input, run by a container, that made this call (call graphs)


@dataclass
class InputRow:
    input_id: str
    call_id: str
    function_id: str
    idx: int
    args: bytes
    args_blob: str
    attempt: int = 0
    method_name: str = ""


@dataclass
class AttemptRow:
    """An input failed and runs again: the attempts it has used, so a restart does not refill
    its retry budget."""

    input_id: str
    attempt: int


@dataclass
class OutputRow:
    call_id: str
    input_id: str
    idx: int
    status: int
    data: bytes
    data_blob: str
    exception_repr: str
    traceback: str
    final: bool  # the input's last output (not a generator item)
    cursor: int = 0  # assigned by the store
    # What Function.stats and metrics read (server/stats.py); 0 / "": not known.
    queued_at: float = 0.0  # when the input was accepted (unix seconds)
    finished_at: float = 0.0  # when this output reached the server
    run_seconds: float = 0.0  # how long the container ran the input, by its own clock
    container_id: str = ""  # the container that sent it


@dataclass
class ContainerRunRow:
    """A function's container after it exited (Function.stats counts starts, errors, start-up times)."""

    container_id: str
    function_id: str
    created_at: float  # placed (unix seconds)
    ready_at: float  # said hello; 0: it never did
    exited_at: float
    failed: bool  # ended on its own with an error (not stopped by the server)


# What the output writer takes (outputs.py): outputs, retried inputs' attempts, exited containers.
WriterRecord = OutputRow | AttemptRow | ContainerRunRow


@dataclass
class OutputBucket:
    """Final outputs of one status that arrived in one bucket of a window, summed up (stats.py)."""

    bucket: int  # its index: the bucket starts at since + bucket * width
    status: int
    count: int
    run_sum: float  # the container-measured run times of those that have one
    run_count: int
    run_max: float
    latency_sum: float  # acceptance to arrival, of those whose acceptance is known
    latency_count: int
    latency_max: float


@dataclass
class GraphInput:
    """An input of a call graph, with its final output's status and container (0 / "": none yet)."""

    input_id: str
    call_id: str
    status: int
    container_id: str


@dataclass
class ObjectRow:
    """A Dict, Queue, Secret or Volume. Named objects are unique per (kind, workspace, environment, name)."""

    object_id: str
    kind: int  # api_pb2.ObjectKind
    name: str | None  # None: ephemeral or anonymous
    environment: str
    ephemeral: bool
    created_at: float
    updated_at: float
    version: int = 0  # volumes: bumped by every commit
    workspace: str = "main"


@dataclass
class VolumeFileRow:
    path: str
    blob_id: str
    size: int
    mode: int
    mtime: float


class Store(ABC):
    """Durable control-plane state. All methods are synchronous and short."""

    # A commit is a local file write (SQLite), not network round trips: the output writer then
    # commits on the loop (group_commit.py), where a hop to a thread and back costs about as much.
    local_commits = False

    @abstractmethod
    def create_app(self, app: AppRow) -> None: ...

    @abstractmethod
    def set_app_state(self, app_id: str, state: str) -> None: ...

    @abstractmethod
    def get_app(self, app_id: str) -> AppRow | None: ...

    @abstractmethod
    def set_app_tags(self, app_id: str, tags: dict[str, str]) -> None:
        """Replace the app's tags."""

    @abstractmethod
    def publish_image(self, workspace: str, tag: str, spec: bytes) -> None:
        """Name an image definition (a serialized ImageSpec); the tag's previous one is replaced."""

    @abstractmethod
    def image_by_tag(self, workspace: str, tag: str) -> bytes | None: ...

    @abstractmethod
    def running_apps(self) -> list[AppRow]:
        """Apps that are not stopped (ephemeral or deployed)."""

    @abstractmethod
    def list_apps(self, workspace: str, *, live_only: bool = False) -> list[AppRow]:
        """The workspace's apps, oldest first; with `live_only`, the running and deployed ones."""

    @abstractmethod
    def find_deployed_app(self, name: str, workspace: str) -> AppRow | None: ...

    @abstractmethod
    def create_workspace(self, name: str) -> bool:
        """False when it exists already."""

    @abstractmethod
    def list_workspaces(self) -> list[tuple[str, float]]:
        """(name, created_at) of every workspace created by `workspace create`."""

    @abstractmethod
    def set_workspace_limits(self, name: str, limits: Limits) -> None: ...

    @abstractmethod
    def workspace_limits(self) -> dict[str, Limits]:
        """The limits of every workspace that has a row (the default workspace only once set)."""

    @abstractmethod
    def add_token(self, token_hash: str, workspace: str, invoke_only: bool) -> None: ...

    @abstractmethod
    def list_tokens(self) -> list[tuple[str, str, bool]]:
        """(sha256 of the token, workspace, invoke_only) of every workspace token."""

    @abstractmethod
    def set_app_version(self, app_id: str, version: int) -> None: ...

    @abstractmethod
    def add_deployment(self, deployment: DeploymentRow) -> None: ...

    @abstractmethod
    def deployments(self, app_id: str) -> list[DeploymentRow]:
        """Every deployment of the app, oldest first."""

    @abstractmethod
    def app_functions(self, app_id: str) -> list[FunctionRow]: ...

    @abstractmethod
    def update_function(self, function_id: str, definition: bytes) -> None: ...

    @abstractmethod
    def add_logs(self, rows: list[LogRow]) -> None: ...

    @abstractmethod
    def tail_logs(self, app_id: str, limit: int) -> list[LogRow]:
        """The app's last `limit` log lines, oldest first."""

    @abstractmethod
    def delete_logs_before(self, timestamp: float) -> None: ...

    @abstractmethod
    def create_function(self, function: FunctionRow) -> None: ...

    @abstractmethod
    def get_function(self, function_id: str) -> FunctionRow | None: ...

    @abstractmethod
    def create_call(self, call: CallRow, inputs: list[InputRow], schedule_fire: float | None = None) -> None:
        """Record a new call and its first inputs, atomically; with `schedule_fire`, also the
        scheduled time this call runs for (see schedule_last_fire)."""

    @abstractmethod
    def blob_references(self) -> Iterator[tuple[str, bytes]]:
        """(kind, value) of every kept value that may name a blob: blob_gc.py reads the names."""

    @abstractmethod
    def create_proxy_token(self, key: str, secret_hash: str, workspace: str) -> None: ...

    @abstractmethod
    def proxy_token(self, key: str) -> ProxyTokenRow | None:
        """The proxy token with this key (its secret's sha256 and workspace), or None."""

    @abstractmethod
    def schedule_last_fire(self, function_id: str) -> float | None:
        """The scheduled time the function's schedule last fired for, if ever."""

    @abstractmethod
    def set_schedule_last_fire(self, function_id: str, fire_at: float) -> None: ...

    @abstractmethod
    def get_call(self, call_id: str) -> CallRow | None: ...

    @abstractmethod
    def update_call(self, call_id: str, *, num_inputs: int, inputs_complete: bool, cancelled: bool) -> None: ...

    @abstractmethod
    def add_inputs(self, call_id: str, inputs: list[InputRow], *, num_inputs: int, inputs_complete: bool) -> None:
        """Append inputs to a call and update its counters, atomically."""

    @abstractmethod
    def unfinished_inputs(self) -> list[InputRow]:
        """Inputs of running apps without a final output (for recovery after a restart)."""

    @abstractmethod
    def abandoned_inputs(self) -> list[InputRow]:
        """Inputs without a final output whose call was cancelled or whose app was stopped: the
        server crashed between recording the cancel or the stop and writing their outputs."""

    @abstractmethod
    def add_outputs(
        self,
        outputs: list[OutputRow],
        attempts: list[AttemptRow] | None = None,
        runs: list[ContainerRunRow] | None = None,
    ) -> None:
        """Append outputs (assigning each its cursor), retire the inputs whose output is final,
        record the attempts of inputs that failed and will run again and the containers that
        exited: one transaction."""

    # ------------------------------------------------------------------ stats (sql_stats.py)

    @abstractmethod
    def output_buckets(
        self, function_ids: list[str], since: float, until: float, width: float, container_id: str = ""
    ) -> list[OutputBucket]:
        """Final outputs of these functions' calls (of one container, if named) that arrived in
        [since, until), summed by status and by bucket of `width` seconds (0: one bucket)."""

    @abstractmethod
    def output_sample(
        self, function_ids: list[str], since: float, until: float, limit: int, container_id: str = ""
    ) -> list[tuple[float, float]]:
        """(run seconds, latency) of the newest `limit` final outputs of the window; 0 where unknown."""

    @abstractmethod
    def container_runs(self, function_ids: list[str], since: float, until: float) -> list[ContainerRunRow]:
        """Containers of these functions that exited in [since, until)."""

    @abstractmethod
    def call_of_input(self, input_id: str) -> CallRow | None:
        """The call an input belongs to (None: unknown, or past retention)."""

    @abstractmethod
    def calls_with_parents(self, parent_input_ids: list[str]) -> list[CallRow]:
        """Calls made by these inputs."""

    @abstractmethod
    def graph_inputs(self, call_ids: list[str], limit: int) -> list[GraphInput]:
        """The inputs of these calls, each with its final output's status and container."""

    @abstractmethod
    def outputs_after(self, call_id: str, cursor: int, limit: int) -> list[OutputRow]: ...

    @abstractmethod
    def count_final_outputs(self, call_id: str) -> int: ...

    @abstractmethod
    def max_cursor(self) -> int:
        """The highest output cursor handed out so far (0 when there is none)."""

    @abstractmethod
    def delete_calls_before(self, created_before: float) -> int:
        """Forget finished calls older than the retention window; returns how many."""

    @abstractmethod
    def close(self) -> None: ...

    # ------------------------------------------------------------------ objects (dicts, queues, secrets, volumes)
    # Each method is one transaction; the server calls them from its single event loop, which
    # is what makes read-modify-write sequences (put if absent, pop) atomic.

    @abstractmethod
    def create_object(self, row: ObjectRow) -> None: ...

    @abstractmethod
    def get_object(self, object_id: str) -> ObjectRow | None: ...

    @abstractmethod
    def find_object(self, kind: int, environment: str, name: str, workspace: str) -> ObjectRow | None: ...

    @abstractmethod
    def list_objects(self, kind: int, environment: str | None, workspace: str) -> list[ObjectRow]:
        """Named objects of one kind in a workspace (in one environment, or all when None)."""

    @abstractmethod
    def ephemeral_objects(self) -> list[ObjectRow]: ...

    @abstractmethod
    def rename_object(self, object_id: str, name: str) -> None:
        """Give the object another name (the caller checked that none of its kind has it)."""

    @abstractmethod
    def delete_object(self, object_id: str) -> list[str]:
        """Delete an object and everything it holds; returns the blob ids its volume files referenced."""

    @abstractmethod
    def dict_get(self, dict_id: str, key_hash: str) -> bytes | None: ...

    @abstractmethod
    def dict_put(self, dict_id: str, entries: list[tuple[str, bytes, bytes]], if_not_exists: bool) -> bool:
        """Write (key_hash, key, value) entries; with if_not_exists, skip existing keys. True if any was new."""

    @abstractmethod
    def dict_pop(self, dict_id: str, key_hash: str) -> bytes | None: ...

    @abstractmethod
    def dict_len(self, dict_id: str) -> int: ...

    @abstractmethod
    def dict_page(self, dict_id: str, after: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        """(cursor, key, value) in insertion order, after the given cursor."""

    @abstractmethod
    def dict_clear(self, dict_id: str) -> None: ...

    @abstractmethod
    def queue_put(self, queue_id: str, partition: str, values: list[bytes], expires_at: float) -> None:
        """Append values; the partition is cleared at `expires_at` unless a later put moves it on."""

    @abstractmethod
    def queue_expired(self, now: float) -> list[tuple[str, str]]:
        """(queue_id, partition) of partitions past their expiry, whose items are now deleted."""

    @abstractmethod
    def queue_take(self, queue_id: str, partition: str, n: int) -> list[bytes]:
        """Remove and return up to n items from the head of a partition."""

    @abstractmethod
    def queue_peek(self, queue_id: str, partition: str, after_item_id: int, limit: int) -> list[tuple[int, bytes]]: ...

    @abstractmethod
    def queue_counts(self, queue_id: str) -> dict[str, int]:
        """Items per non-empty partition."""

    @abstractmethod
    def queue_clear(self, queue_id: str, partition: str | None) -> None:
        """Empty one partition, or every partition when None."""

    @abstractmethod
    def secret_set(self, secret_id: str, ciphertext: bytes, updated_at: float) -> None: ...

    @abstractmethod
    def secret_get(self, secret_id: str) -> bytes | None: ...

    @abstractmethod
    def volume_manifest(self, volume_id: str) -> tuple[int, list[VolumeFileRow]]: ...

    @abstractmethod
    def volume_apply(self, volume_id: str, puts: list[VolumeFileRow], deletes: list[str]) -> tuple[int, list[str]]:
        """Apply file changes and bump the version, atomically; returns (version, blob ids no longer named)."""

    @abstractmethod
    def referenced_blobs(self, blob_ids: list[str]) -> set[str]:
        """Those of blob_ids still named by some volume file."""
