"""The control plane's state, shared by its parts (control.py puts them together).

The parts split the control plane by job: calls and inputs (inputs.py), outputs
(outputs.py), container events (container_lifecycle.py), workers and placement
(placement.py) and logs (app_logs.py); apps and functions are in control.py. Each part
keeps to its own state below; what one part asks of another is declared here.

Runs on one asyncio loop; every method is called from the gRPC service or the scheduler.
Durable changes go through the Store before anyone is told about them.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from ..proto import api_pb2
from .containers import Containers
from .errors import NotFound
from .group_commit import GroupCommit
from .log_limits import LogLimits
from .state import App, Call, Container, FunctionRuntime, QueuedInput, Signal, Worker
from .store import AttemptRow, LogRow, OutputRow, Store, WriterRecord
from .tunnels import Tunnels
from .web_channels import WebChannels
from .web_requests import WebRequests
from .workspace_limits import NO_LIMITS, Limits


def new_id(prefix: str) -> str:
    """`prefix-` + the second it was made (8 hex digits) + 64 random bits: ids made together sort
    together, so the store's index of them grows at its end, in pages already cached, rather than
    at random places all over a B-tree larger than the cache (a map's input inserts cost 2-4x
    more with random ids, growing with the table: docs/BENCHMARKS.md, "`.map` at 30k/s")."""
    return f"{prefix}-{int(time.time()):08x}{secrets.token_hex(8)}"


def bind_key(definition: api_pb2.FunctionDefinition) -> str:
    return hashlib.sha256(definition.SerializeToString(deterministic=True)).hexdigest()


class ControlBase:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.apps: dict[str, App] = {}
        self.functions: dict[str, FunctionRuntime] = {}
        # Least recently used first (get_call moves a call to the end): forget_idle_calls looks
        # only at the stale front, not at every call of the last CALL_MEMORY_IDLE (at warm-call
        # rates, ~10^5 calls scanned on every scheduler tick, docs/BENCHMARKS.md).
        self.calls: OrderedDict[str, Call] = OrderedDict()
        self.containers = Containers()  # the only owner of Container objects
        self.workers: dict[str, Worker] = {}
        self.worker_registrations = 0  # workers joined or restarted: a failed function's cue to retry
        self.scale_needed = Signal()  # wakes the scheduler: inputs that no parked container will take
        self.bound: dict[str, str] = {}  # bind key of a class instance -> its function id
        self.log_limits = LogLimits()  # how much each container and app may log
        # Extra environment for a new container of a function (object_service.py adds secrets and volumes).
        self.container_env_hooks: list[Callable[[FunctionRuntime], dict[str, str]]] = []
        # Told of every container's end (sandboxes.py turns a sandbox's into its returncode).
        self.container_exit_hooks: list[Callable[[Container, int, str], None]] = []
        self.web_channels = WebChannels()  # WebSocket client messages for the containers serving them
        self.tunnels = Tunnels()  # modal.forward: containers' ports behind the gateway
        self.web_requests = WebRequests()  # the status each web request got (Server.stats)
        self.container_exit_hooks.append(
            lambda container, code, reason: self.tunnels.container_exited(container.container_id)
        )
        self.secret_variables: Callable[[str], dict[str, str]] | None = None  # for image build steps
        # A workspace's limits (workspace_limits.py; main.py hands over Workspaces.limits_of).
        self.workspace_limits: Callable[[str], Limits] = lambda workspace: NO_LIMITS
        # Outputs (and retried inputs' attempts), many puts per transaction: on a local store, on the
        # loop while it answers; else (and while it does not) on a store thread (group_commit.py).
        self._output_commit = GroupCommit(
            self._write_outputs, self._apply_outputs, "output-writer", inline=store.local_commits
        )
        self._log_commit = GroupCommit(self.store.add_logs, _nothing, "log-writer")  # always off the loop
        self._committing: dict[str, asyncio.Future[None]] = {}  # input id -> the write of its output
        # Input id -> sync marks its prints are followed by (FunctionOutput.log_sync_lines; outputs.py):
        # not stored, so kept here for the answer; the latest LOG_SYNC_KEPT only (a caller asks at once).
        self.log_sync_lines: dict[str, int] = {}

    def app(self, app_id: str) -> App:
        app = self.apps.get(app_id)
        if app is None:
            row = self.store.get_app(app_id)
            if row is None:
                raise NotFound(f"app {app_id} not found")
            app = self.apps[app_id] = App(
                row.app_id, row.name, row.ephemeral, state=row.state, version=row.version, workspace=row.workspace
            )
        return app

    def _function(self, function_id: str) -> FunctionRuntime:
        fn = self.functions.get(function_id)
        if fn is None:
            row = self.store.get_function(function_id)
            if row is None:
                raise NotFound(f"function {function_id} not found")
            definition = api_pb2.FunctionDefinition.FromString(row.definition)
            fn = self.functions[function_id] = FunctionRuntime(function_id, row.app_id, row.name, definition)
            if definition.parent_function_id:
                self.bound[bind_key(definition)] = function_id
        return fn

    # ------------------------------------------------------------------ what the parts ask of each other

    def get_call(self, call_id: str) -> Call:
        raise NotImplementedError  # inputs.py

    def live_containers(self, fn: FunctionRuntime) -> list[Container]:
        raise NotImplementedError  # container_lifecycle.py

    def stop_container(self, container: Container, *, rerun_held: bool = True) -> None:
        raise NotImplementedError  # container_lifecycle.py

    def unplaceable(self, fn: FunctionRuntime) -> str | None:
        raise NotImplementedError  # placement.py

    def retry_start_if_due(self, fn: FunctionRuntime) -> None:
        raise NotImplementedError  # container_lifecycle.py

    def start_retry_hint(self, fn: FunctionRuntime) -> str:
        raise NotImplementedError  # container_lifecycle.py

    def _retry_or_fail(self, item: QueuedInput, row: OutputRow) -> OutputRow | AttemptRow:
        raise NotImplementedError  # inputs.py

    def _fail_inputs(self, items: list[QueuedInput], status: int, message: str, error: bytes = b"") -> None:
        raise NotImplementedError  # inputs.py

    def _requeue(self, container: Container, input_ids: Iterable[str]) -> None:
        raise NotImplementedError  # inputs.py

    def _record_outputs(self, records: Sequence[WriterRecord]) -> None:
        raise NotImplementedError  # outputs.py

    def _write_outputs(self, records: list[WriterRecord]) -> None:
        raise NotImplementedError  # outputs.py

    def _apply_outputs(self, records: list[WriterRecord]) -> None:
        raise NotImplementedError  # outputs.py

    def _wake_log_followers(self, app: App) -> None:
        raise NotImplementedError  # app_logs.py


def _nothing(rows: list[LogRow]) -> None:
    """Logs have no in-memory side: their followers got them as they came."""
