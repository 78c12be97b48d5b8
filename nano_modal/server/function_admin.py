"""A live function's numbers and scaling, as the SDK reads and changes them:
`Function.get_current_stats()` and `Function.update_autoscaler()`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..proto import api_pb2

if TYPE_CHECKING:
    from .control import ControlPlane


def function_stats(control: ControlPlane, function_id: str) -> api_pb2.FunctionStats:
    fn = control._function(function_id)
    live = control.containers.live_of_function(function_id)
    return api_pb2.FunctionStats(
        backlog=len(fn.queue) + len(fn.delayed),
        num_total_runners=len(live),
        num_running_inputs=sum(len(container.held) for container in live),
    )


def update_autoscaler(control: ControlPlane, request: api_pb2.FunctionUpdateAutoscalerRequest) -> None:
    """Change the function's scaling in place (kept until its app is deployed again, as in Modal)."""
    from .control import Invalid

    fn = control._function(request.function_id)
    changed = api_pb2.FunctionDefinition()
    changed.CopyFrom(fn.definition)
    if request.HasField("min_containers"):
        changed.min_containers = request.min_containers
    if request.HasField("max_containers"):
        changed.max_containers = request.max_containers
    if request.HasField("scaledown_window"):
        changed.scaledown_window = request.scaledown_window
    if changed.min_containers < 0 or changed.max_containers < 0 or changed.scaledown_window < 0:
        raise Invalid("update_autoscaler: counts and windows must not be negative")
    if changed.max_containers and changed.min_containers > changed.max_containers:
        raise Invalid(
            f"update_autoscaler: min_containers ({changed.min_containers}) exceeds max_containers "
            f"({changed.max_containers})"
        )
    control.store.update_function(fn.function_id, changed.SerializeToString())
    fn.definition = changed
    control.scale_needed.fire()  # the scheduler starts (or may stop) containers for the new bounds
