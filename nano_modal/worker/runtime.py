"""Container runtimes behind one interface (base.py), and the registry of them.

A runtime turns a ContainerConfig into a running process of `python -m nano_modal.container`
(or another command) with the given environment, inside a cgroup with the container's
limits where cgroups are usable. `process` is the development fallback: no isolation at
all; `bwrap` (Linux namespaces) and `gvisor` (runsc) isolate.
"""

from __future__ import annotations

import asyncio
import logging

from .base import DEFAULT_PIDS_LIMIT, ContainerConfig, Runtime, cgroup_manager
from .bwrap import BwrapRuntime
from .gvisor import GVisorRuntime
from .sandbox_relay import AGENT_SOCKET, AGENT_SOCKET_ENV

__all__ = ["DEFAULT_PIDS_LIMIT", "RUNTIMES", "ContainerConfig", "Runtime", "cgroup_manager", "make_runtime"]

log = logging.getLogger("nano_modal.worker")


class ProcessRuntime(Runtime):
    """Runs the container as a plain child process: no isolation, for development."""

    name = "process"
    _warned = False

    async def launch(self, cfg: ContainerConfig, stdin: int = asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
        if not ProcessRuntime._warned:
            log.warning("runtime 'process' gives containers NO isolation: use it for trusted code only")
            ProcessRuntime._warned = True
        return await self._exec([*self._limit(cfg), *cfg.argv()], self.container_env(cfg), cfg.workdir, stdin)

    def container_env(self, cfg: ContainerConfig, runtime_id: str = "") -> dict[str, str]:
        env = super().container_env(cfg, runtime_id)
        if cfg.agent_dir is not None:
            env[AGENT_SOCKET_ENV] = str(cfg.agent_dir / AGENT_SOCKET)
        return env


RUNTIMES: dict[str, type[Runtime]] = {"process": ProcessRuntime, "bwrap": BwrapRuntime, "gvisor": GVisorRuntime}


def make_runtime(name: str, **kwargs: object) -> Runtime:
    try:
        cls = RUNTIMES[name]
    except KeyError:
        raise SystemExit(f"unknown runtime {name!r}; available: {', '.join(RUNTIMES)}") from None
    return cls(**kwargs)  # type: ignore[arg-type]
