"""Records the API returns, named as in `modal.types`."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from .volume import FileEntry, FileEntryType

__all__ = [
    "DictInfo",
    "FileEntry",
    "FileEntryType",
    "FunctionAutoscalerSettings",
    "FunctionCurrentStats",
    "QueueInfo",
    "SecretInfo",
    "VolumeInfo",
]


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


def object_info(
    type_name: str, name: str | None, environment_name: str | None, created_at: datetime.datetime | None
) -> DictInfo | SecretInfo:
    if type_name == "Secret":
        return SecretInfo(name, environment_name, created_at)
    record = {"Dict": DictInfo, "Queue": QueueInfo, "Volume": VolumeInfo}[type_name]
    return record(name, created_at)
