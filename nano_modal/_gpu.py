"""Modal's `gpu=` argument: what GPUs a container needs, and which of a worker's devices fit.

gpu="T4"             one T4
gpu="A100-80GB:2"    two A100s with 80 GB
gpu="any"            one GPU of any model
gpu=["H100", "A100"] the first option some worker can satisfy
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .exception import InvalidError

_SPEC = re.compile(r"(?P<model>[A-Za-z0-9][A-Za-z0-9-]*?)(?::(?P<count>[0-9]+))?")
MAX_PER_CONTAINER = 8  # Modal's limit for most models


@dataclass(frozen=True)
class GpuRequest:
    model: str  # upper case; "ANY" matches every device
    count: int

    def matches(self, device: str) -> bool:
        """'A100-80GB' fits 'NVIDIA A100-SXM4-80GB' (every part is a word of the name); 'L4' does not fit 'L40S'."""
        if self.model == "ANY":
            return True
        words = set(re.split(r"[^A-Z0-9]+", device.upper()))
        return all(part in words for part in self.model.split("-"))


def normalize(spec: str | Sequence[str] | None) -> str:
    """The canonical form stored in a FunctionDefinition ("" for no GPU); bad specs are InvalidError."""
    if spec is None:
        return ""
    options = [spec] if isinstance(spec, str) else list(spec)
    if not options:
        raise InvalidError("gpu=[] names no GPU: pass None for no GPU")
    return ",".join(f"{r.model}:{r.count}" for r in map(_parse_one, options))


def parse(stored: str) -> list[GpuRequest]:
    return [_parse_one(option) for option in stored.split(",")] if stored else []


def _parse_one(option: str) -> GpuRequest:
    if not isinstance(option, str) or not (m := _SPEC.fullmatch(option.strip())):
        raise InvalidError(
            f"gpu={option!r} is not a GPU spec: use a model with an optional count, e.g. 'T4' or 'A100:2'"
        )
    count = int(m["count"] or 1)
    if not 1 <= count <= MAX_PER_CONTAINER:
        raise InvalidError(f"gpu={option!r}: a container can have 1 to {MAX_PER_CONTAINER} GPUs")
    return GpuRequest(m["model"].upper(), count)


def pick(requests: list[GpuRequest], devices: Sequence[str], taken: set[int]) -> tuple[int, ...] | None:
    """Device indices for the first request the free devices satisfy, or None."""
    for request in requests:
        free = [i for i, name in enumerate(devices) if i not in taken and request.matches(name)]
        if len(free) >= request.count:
            return tuple(free[: request.count])
    return None
