"""The input state table: the only moves an input may make (inputs.py tells the story).

`move_input` refuses any other: an input answered twice, or run after it was cancelled,
is a bug to see at once rather than a wrong result to find later.
"""

from __future__ import annotations

from ..proto import api_pb2
from .state import InputState, QueuedInput

In = InputState
INPUT_TRANSITIONS: dict[InputState, frozenset[InputState]] = {
    In.QUEUED: frozenset({In.HELD, In.CANCELLED, In.FAILED}),
    In.HELD: frozenset({In.QUEUED, In.DONE, In.RETRYING, In.FAILED, In.CANCELLED}),
    In.RETRYING: frozenset({In.QUEUED, In.CANCELLED, In.FAILED}),
    In.DONE: frozenset(),
    In.FAILED: frozenset(),
    In.CANCELLED: frozenset(),
}


class InvalidInputMove(RuntimeError):
    pass


def move_input(item: QueuedInput, new_state: InputState) -> None:
    if new_state not in INPUT_TRANSITIONS[item.state]:
        raise InvalidInputMove(f"input {item.input_id}: {item.state.value} -> {new_state.value} is not allowed")
    item.state = new_state


def final_state(status: int) -> InputState:
    """Where an input's final output leaves it."""
    if status == api_pb2.OUTPUT_STATUS_SUCCESS:
        return In.DONE
    if status == api_pb2.OUTPUT_STATUS_CANCELLED:
        return In.CANCELLED
    return In.FAILED
