"""Per-workspace limits: what one workspace's live containers may hold at once, so that one
tenant's burst (or a hostile loop of `Sandbox.create`) cannot take every worker from the rest.

Set by the operator (`nano-modal workspace create NAME --max-cpu 4`, `workspace limits`),
kept in the store, checked at placement (placement.py): a container that would take its
workspace past a limit is not placed. A function's inputs wait for room, as they do when
the workers are full, and an idle container of the same workspace may be stopped to make
it; a sandbox waits, then fails naming the limit; a container larger than the limit itself
fails at once, naming it. 0 means no limit; the default workspace has none unless set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_containers: int = 0
    max_cpu: float = 0.0
    max_memory_mb: int = 0

    @property
    def any(self) -> bool:
        return bool(self.max_containers or self.max_cpu or self.max_memory_mb)


@dataclass
class Usage:
    """What a workspace's live containers hold now (containers.py keeps it)."""

    containers: int = 0
    cpu: float = 0.0
    memory_mb: int = 0


NO_LIMITS = Limits()
_SLACK = 1e-9  # cpu sums of floats (0.25 x 4) must not read as just over a limit of 1.0


def too_big(workspace: str, limits: Limits, cpu: float, memory_mb: int) -> str | None:
    """Why one container of this size can never run in the workspace, or None."""
    if limits.max_cpu and cpu > limits.max_cpu + _SLACK:
        return f"it asks for cpu={cpu:g} and workspace {workspace!r} is limited to cpu={limits.max_cpu:g}"
    if limits.max_memory_mb and memory_mb > limits.max_memory_mb:
        return (
            f"it asks for memory={memory_mb:,} MiB and workspace {workspace!r} is limited to "
            f"{limits.max_memory_mb:,} MiB"
        )
    return None


def full(workspace: str, limits: Limits, usage: Usage, cpu: float, memory_mb: int) -> str | None:
    """Which limit one more container of this size would pass, or None if it fits."""
    if limits.max_containers and usage.containers + 1 > limits.max_containers:
        return f"workspace {workspace!r} has {usage.containers} of its {limits.max_containers} containers running"
    if limits.max_cpu and usage.cpu + cpu > limits.max_cpu + _SLACK:
        return f"workspace {workspace!r} holds cpu={usage.cpu:g} of its limit of {limits.max_cpu:g}"
    if limits.max_memory_mb and usage.memory_mb + memory_mb > limits.max_memory_mb:
        return f"workspace {workspace!r} holds {usage.memory_mb:,} MiB of its limit of {limits.max_memory_mb:,} MiB"
    return None
