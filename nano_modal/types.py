"""Records the API returns, named as in `modal.types`."""

from __future__ import annotations

from dataclasses import dataclass

from .volume import FileEntry, FileEntryType

__all__ = ["FileEntry", "FileEntryType", "FunctionAutoscalerSettings", "FunctionCurrentStats"]


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
