"""The durable state of the control plane, behind one interface.

Callers speak in plain rows; implementations decide how they are kept. The SQL
implementation (sql_store.py) serves SQLite (embedded default) and, through SQLAlchemy,
any database it supports. Everything a client was told was accepted is written here
before the answer goes out, so a restarted server can pick up where it stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass
class AppRow:
    app_id: str
    name: str
    state: str  # "running" (ephemeral, client attached) | "deployed" | "stopped"
    ephemeral: bool
    created_at: float
    version: int = 0  # current deployment; 0 for ephemeral apps


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


@dataclass
class InputRow:
    input_id: str
    call_id: str
    function_id: str
    idx: int
    args: bytes
    args_blob: str
    attempt: int = 0


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


class Store(ABC):
    """Durable control-plane state. All methods are synchronous and short."""

    @abstractmethod
    def create_app(self, app: AppRow) -> None: ...

    @abstractmethod
    def set_app_state(self, app_id: str, state: str) -> None: ...

    @abstractmethod
    def get_app(self, app_id: str) -> AppRow | None: ...

    @abstractmethod
    def running_apps(self) -> list[AppRow]:
        """Apps that are not stopped (ephemeral or deployed)."""

    @abstractmethod
    def list_apps(self) -> list[AppRow]: ...

    @abstractmethod
    def find_deployed_app(self, name: str) -> AppRow | None: ...

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
    def create_call(self, call: CallRow, inputs: list[InputRow]) -> None:
        """Record a new call and its first inputs, atomically."""

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
    def add_outputs(self, outputs: list[OutputRow]) -> None:
        """Append outputs (assigning each its cursor) and retire the inputs whose output is final."""

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
