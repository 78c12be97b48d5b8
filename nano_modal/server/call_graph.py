"""FunctionCall.get_call_graph: the tree of calls that a call belongs to.

A call made by a container running an input records that input as its parent (service.py
keeps it only from the container that holds the input). The graph is found from the root:
up through the parents, then down level by level, at most `MAX_INPUTS` inputs.
"""

from __future__ import annotations

from ..proto import api_pb2
from .control import ControlPlane, NotFound
from .store import CallRow

MAX_INPUTS = 10_000  # inputs in one graph (as Modal's, a larger graph is truncated and says so)
MAX_DEPTH = 100  # parents followed up to the root: a cycle cannot form, but a bound costs nothing

# An input's final output, as modal.types.InputStatus numbers it (0: no final output yet).
_STATUS: dict[int, int] = {
    api_pb2.OUTPUT_STATUS_SUCCESS: 1,
    api_pb2.OUTPUT_STATUS_FAILURE: 2,
    api_pb2.OUTPUT_STATUS_CONTAINER_DIED: 2,
    api_pb2.OUTPUT_STATUS_CANCELLED: 3,
    api_pb2.OUTPUT_STATUS_TIMEOUT: 4,
    api_pb2.OUTPUT_STATUS_INIT_FAILURE: 5,
}


def call_graph(control: ControlPlane, call_id: str) -> api_pb2.FunctionCallGraph:
    root = control.store.get_call(call_id)
    if root is None:
        raise NotFound(f"function call {call_id} not found")
    for _ in range(MAX_DEPTH):
        if not root.parent_input_id:
            break
        parent = control.store.call_of_input(root.parent_input_id)
        if parent is None:  # past retention: the graph starts here
            break
        root = parent
    graph = api_pb2.FunctionCallGraph()
    level: list[CallRow] = [root]
    while level:
        graph.function_calls.extend(_call(control, row) for row in level)
        room = MAX_INPUTS - len(graph.inputs)
        found = control.store.graph_inputs([row.call_id for row in level], room + 1)
        if len(found) > room:
            graph.truncated = True
            found = found[:room]
        graph.inputs.extend(
            api_pb2.CallGraphInput(
                input_id=i.input_id, call_id=i.call_id, task_id=i.container_id, status=_STATUS.get(i.status, 0)
            )
            for i in found
        )
        if graph.truncated or not found:
            break
        level = control.store.calls_with_parents([i.input_id for i in found])
    return graph


def _call(control: ControlPlane, row: CallRow) -> api_pb2.CallGraphCall:
    try:
        fn = control._function(row.function_id)
        name, module = fn.name, fn.definition.module_name
    except NotFound:  # its app's functions were removed
        name, module = "", ""
    return api_pb2.CallGraphCall(
        call_id=row.call_id, function_name=name, module_name=module, parent_input_id=row.parent_input_id
    )
