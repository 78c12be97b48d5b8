"""The control plane: apps and functions here, its other jobs in their own parts.

`ControlPlane` puts the parts together (see control_base.py for how they divide the work).
"""

from __future__ import annotations

import logging
import time

from .. import config
from .._app_tags import tag_problem
from ..proto import api_pb2
from .app_logs import AppLogs
from .container_lifecycle import ContainerLifecycle
from .control_base import bind_key
from .control_base import new_id as new_id  # re-exported: sandboxes, objects and deployments make ids
from .errors import Invalid as Invalid  # re-exported: raised by the whole server
from .errors import NotFound as NotFound
from .inputs import CallsAndInputs
from .outputs import Outputs
from .placement import Placement
from .state import App, FunctionRuntime, QueuedInput
from .store import AppRow, FunctionRow, OutputRow

log = logging.getLogger("nano_modal.server")

# What a class instance takes from its class's definition; everything else (cpu, memory,
# max_containers, timeouts, ...) is an option that `with_options` may change.
CODE_FIELDS = (
    "name",
    "module_name",
    "source_blob_id",
    "pickled_blob_id",
    "is_generator",
    "is_async",
    "is_class",
    "methods",
    "python_version",
)


def checked_tags(tags: dict[str, str]) -> dict[str, str]:
    """An app's tags as sent, or Invalid: the client checks them too, but any caller may send any."""
    problem = tag_problem(tags)
    if problem:
        raise Invalid(problem)
    return dict(tags)


def bound_definition(
    parent: api_pb2.FunctionDefinition, options: api_pb2.FunctionDefinition, params: bytes, parent_id: str
) -> api_pb2.FunctionDefinition:
    definition = api_pb2.FunctionDefinition()
    definition.CopyFrom(options)
    for name in CODE_FIELDS:
        definition.ClearField(name)
    for name in CODE_FIELDS:
        if name == "methods":
            definition.methods.extend(parent.methods)
        else:
            setattr(definition, name, getattr(parent, name))
    definition.bound_params = params
    definition.parent_function_id = parent_id
    return definition


class ControlPlane(CallsAndInputs, Outputs, ContainerLifecycle, Placement, AppLogs):
    def recover(self) -> int:
        """Rebuild queues from the store after a restart; returns the number of requeued inputs."""
        for app_row in self.store.running_apps():
            self.apps[app_row.app_id] = App(
                app_row.app_id,
                app_row.name,
                app_row.ephemeral,
                state=app_row.state,
                version=app_row.version,
                workspace=app_row.workspace,
            )
            for fn_row in self.store.app_functions(app_row.app_id):
                self._function(fn_row.function_id)  # so the scheduler keeps min_containers warm
        self._finish_abandoned_inputs()
        count = 0
        for row in self.store.unfinished_inputs():
            fn = self._function(row.function_id)
            call = self.get_call(row.call_id)
            if call.cancelled:
                continue
            payload = api_pb2.Payload(data=row.args, blob_id=row.args_blob)
            fn.queue.append(
                QueuedInput(
                    row.input_id,
                    row.call_id,
                    row.function_id,
                    row.idx,
                    payload,
                    call.kind,
                    row.attempt,
                    row.method_name,
                )
            )
            count += 1
        return count

    def _finish_abandoned_inputs(self) -> None:
        """A cancel or an app stop is recorded first, its inputs' outputs after (on the output
        writer): a crash in between left inputs that no one will run and whose callers would
        wait for them forever. Their final outputs are written now, before anyone is served."""
        abandoned = self.store.abandoned_inputs()
        if abandoned:
            message = "the call was cancelled or its app was stopped"
            cancelled = api_pb2.OUTPUT_STATUS_CANCELLED
            rows = [
                OutputRow(r.call_id, r.input_id, r.idx, cancelled, b"", "", message, "", final=True) for r in abandoned
            ]
            self.store.add_outputs(rows)
            log.info("recovery: %d inputs of cancelled calls or stopped apps answered as cancelled", len(rows))

    def create_app(
        self, name: str, ephemeral: bool, workspace: str = config.DEFAULT_WORKSPACE, tags: dict[str, str] | None = None
    ) -> str:
        checked = checked_tags(tags or {})
        app_id = new_id("ap")
        self.store.create_app(
            AppRow(app_id, name, "running", ephemeral, time.time(), workspace=workspace, tags=checked)
        )
        self.apps[app_id] = App(app_id, name, ephemeral, workspace=workspace)
        return app_id

    def set_app_tags(self, app_id: str, tags: dict[str, str]) -> None:
        self.app(app_id)  # NotFound for an unknown app
        self.store.set_app_tags(app_id, checked_tags(tags))

    def app_tags(self, app_id: str) -> dict[str, str]:
        self.app(app_id)
        row = self.store.get_app(app_id)
        return dict(row.tags) if row else {}

    def heartbeat_app(self, app_id: str) -> None:
        self.app(app_id).last_heartbeat = time.monotonic()

    def stop_app(self, app_id: str) -> None:
        app = self.app(app_id)
        if app.state == "stopped":
            return
        self.store.set_app_state(app_id, "stopped")  # first: if the store is away, nothing changed
        app.state = "stopped"
        for fn in [f for f in self.functions.values() if f.app_id == app_id]:
            unfinished = list(fn.queue) + [item for _, _, item in fn.delayed]
            fn.queue.clear()
            fn.delayed.clear()
            for container in self.live_containers(fn):
                unfinished.extend(container.held.values())
                container.held.clear()
                self.stop_container(container)
            self._fail_inputs(unfinished, api_pb2.OUTPUT_STATUS_CANCELLED, "the app was stopped")
            fn.inputs_ready.fire()
        self._wake_log_followers(app)

    def create_function(self, app_id: str, definition: api_pb2.FunctionDefinition) -> str:
        app = self.app(app_id)
        if not app.live:
            raise Invalid(f"app {app.name} ({app_id}) is stopped")
        if not definition.name:
            raise Invalid("a function needs a name")
        function_id = new_id("fu")
        self.store.create_function(
            FunctionRow(function_id, app_id, definition.name, definition.SerializeToString(), time.time())
        )
        self.functions[function_id] = FunctionRuntime(function_id, app_id, definition.name, definition)
        app.function_ids.append(function_id)
        return function_id

    def redefine_function(self, function_id: str, definition: api_pb2.FunctionDefinition) -> None:
        """Give a function created ahead of its definition (Modal's FunctionPrecreate) its definition."""
        fn = self._function(function_id)
        fn.definition = definition
        self.store.update_function(function_id, definition.SerializeToString())

    def app_functions(self, app_id: str, *, include_retired: bool = False) -> list[FunctionRuntime]:
        """The functions and classes the app defines (not the parameterized instances of its classes)."""
        found = [self._function(row.function_id) for row in self.store.app_functions(app_id)]
        return [fn for fn in found if not fn.definition.parent_function_id and (include_retired or not fn.retired)]

    def function_by_name(self, app_id: str, name: str) -> FunctionRuntime | None:
        return next((fn for fn in self.app_functions(app_id) if fn.name == name), None)

    def bind_function(self, parent_id: str, params: bytes, options: api_pb2.FunctionDefinition) -> str:
        """The function id of a class instance with these parameters (and options): one pool each."""
        parent = self._function(parent_id)
        if not parent.definition.is_class and params:  # a function's variant (with_options) has options only
            raise Invalid(f"{parent.name} is not a class; only classes take parameters")
        definition = bound_definition(parent.definition, options, params, parent_id)
        key = bind_key(definition)
        if key in self.bound:
            return self.bound[key]
        function_id = new_id("fu")
        self.store.create_function(
            FunctionRow(function_id, parent.app_id, parent.name, definition.SerializeToString(), time.time())
        )
        fn = self.functions[function_id] = FunctionRuntime(function_id, parent.app_id, parent.name, definition)
        fn.version = parent.version
        self.bound[key] = function_id
        return function_id

    def rebind_children(self, parent: FunctionRuntime) -> None:
        """After a new deployment of a class, its parameterized instances run the new code too."""
        for child in self.functions.values():
            if child.definition.parent_function_id == parent.function_id:
                definition = bound_definition(
                    parent.definition, child.definition, child.definition.bound_params, parent.function_id
                )
                self.store.update_function(child.function_id, definition.SerializeToString())
                child.definition = definition
                child.version = parent.version
                child.init_failure = None
                child.inputs_ready.fire()
