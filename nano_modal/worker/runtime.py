"""Container runtimes behind one interface (base.py), and the registry of them.

A runtime turns a ContainerConfig into a running process of `python -m nano_modal.container`
(or another command) with the given environment, inside a cgroup with the container's
limits where cgroups are usable. `process` is the development fallback: no isolation at
all; `bwrap` (Linux namespaces) and `gvisor` (runsc) isolate.
"""

from __future__ import annotations

import asyncio
import logging
import os

from .base import DEFAULT_PIDS_LIMIT, SDK_ROOT, ContainerConfig, Runtime, cgroup_manager
from .bwrap import BwrapRuntime
from .gvisor import GVisorRuntime

__all__ = ["DEFAULT_PIDS_LIMIT", "RUNTIMES", "ContainerConfig", "Runtime", "cgroup_manager", "make_runtime"]

log = logging.getLogger("nano_modal.worker")


class ProcessRuntime(Runtime):
    """Runs the container as a plain child process: no isolation, for development."""

    name = "process"
    _warned = False

    async def start(self, cfg: ContainerConfig) -> asyncio.subprocess.Process:
        if not ProcessRuntime._warned:
            log.warning("runtime 'process' gives containers NO isolation: use it for trusted code only")
            ProcessRuntime._warned = True
        env = cfg.env
        env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (SDK_ROOT, env.get("PYTHONPATH", "")) if p)}
        return await self._exec([*self._limit(cfg), *cfg.argv()], env, cfg.workdir)


RUNTIMES: dict[str, type[Runtime]] = {"process": ProcessRuntime, "bwrap": BwrapRuntime, "gvisor": GVisorRuntime}


def make_runtime(name: str, **kwargs: object) -> Runtime:
    try:
        cls = RUNTIMES[name]
    except KeyError:
        raise SystemExit(f"unknown runtime {name!r}; available: {', '.join(RUNTIMES)}") from None
    return cls(**kwargs)  # type: ignore[arg-type]
