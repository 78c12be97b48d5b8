"""Image.run_function(cpu=, memory=, timeout=): the build step's command runs in a cgroup of
its own with those limits (worker/cgroups.py, as containers do) and is killed after `timeout`.
The limits are not part of the layer's cache key (steps.py step_key), as in Modal, where only
the function and its arguments decide whether the image is built again."""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..._image_parts import RUN_FUNCTION_TIMEOUT
from ...proto import api_pb2
from ..cgroups import Cgroup, Limits

# The step options that hold them: limits on the run, not what the layer is.
LIMIT_OPTIONS = ("cpu", "memory", "timeout")
# Joins each cgroup file listed before "--", then execs the rest (worker/base.py's, for builds).
_ENTER_CGROUPS = 'for f do [ "$f" = -- ] && break; echo 0 > "$f" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class StepLimits:
    timeout: float = 0.0  # seconds; 0: none
    cpu: float = 0.0  # cores at most; 0: none
    memory_mb: int = 0  # MiB at most; 0: none

    @staticmethod
    def of(step: api_pb2.ImageStep) -> StepLimits:
        if step.kind != "run_function":
            return StepLimits()
        options = step.options
        timeout = float(options.get("timeout") or RUN_FUNCTION_TIMEOUT)
        return StepLimits(timeout, float(options.get("cpu") or 0), int(options.get("memory") or 0))


class LimitExceeded(Exception):
    """The step's command went past one of its limits: says which (`tail`: its last output)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.tail: list[str] = []


@contextmanager
def limited(argv: list[str], limits: StepLimits) -> Iterator[tuple[list[str], Cgroup | None]]:
    """`argv` made to run in a fresh cgroup with the cpu and memory limits, if any (and the
    worker can make cgroups); the cgroup is removed after."""
    from ..base import cgroup_manager

    manager = cgroup_manager() if (limits.cpu or limits.memory_mb) else None
    if manager is None:
        yield argv, None
        return
    cgroup = manager.create(
        f"build-{secrets.token_hex(4)}", Limits(memory_mb=limits.memory_mb, cpu=limits.cpu, cpu_shares=limits.cpu)
    )
    try:
        procs = [str(f) for f in cgroup.procs_files()]
        yield ["/bin/sh", "-c", _ENTER_CGROUPS, "nano-modal-build", *procs, "--", *argv], cgroup
    finally:
        cgroup.destroy()


@contextmanager
def deadline(proc: subprocess.Popen[bytes], timeout: float) -> Iterator[threading.Event]:
    """Kill `proc` after `timeout` seconds (0: never); the event says it was."""
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield expired
    finally:
        if timer is not None:
            timer.cancel()


def check(limits: StepLimits, expired: threading.Event, cgroup: Cgroup | None, code: int) -> None:
    """LimitExceeded if the command ended because of a limit."""
    if expired.is_set():
        raise LimitExceeded(f"timed out after {limits.timeout:g}s (run_function(timeout=))")
    if code != 0 and cgroup is not None and limits.memory_mb and cgroup.oom_killed():
        raise LimitExceeded(f"ran out of memory: limit {limits.memory_mb} MiB (run_function(memory=))")
