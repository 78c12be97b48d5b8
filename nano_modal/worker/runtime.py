"""Container runtimes behind one interface (base.py), and the registry of them.

A runtime turns a ContainerConfig into a running process of `python -m nano_modal.container`
(or another command) with the given environment, inside a cgroup with the container's
limits where cgroups are usable. `process` is the development fallback: no isolation at
all; `bwrap` (Linux namespaces) and `gvisor` (runsc) isolate.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile

from .._volume_sync import runtime_binds
from .base import DEFAULT_PIDS_LIMIT, PROBE_TIMEOUT, ContainerConfig, Runtime, cgroup_manager
from .bwrap import BwrapRuntime
from .gvisor import GVisorRuntime
from .sandbox_relay import AGENT_SOCKET, AGENT_SOCKET_ENV

__all__ = ["DEFAULT_PIDS_LIMIT", "RUNTIMES", "ContainerConfig", "Runtime", "cgroup_manager", "make_runtime"]

log = logging.getLogger("nano_modal.worker")


# Binds each (directory, mount path) pair given before "--" in the mount namespace `unshare`
# made for the container, then execs the rest: the same pid, private mounts.
_BIND_VOLUMES = (
    'while [ "$1" != -- ]; do mkdir -p "$2" && mount --bind "$1" "$2" || exit 125; shift 2; done; shift; exec "$@"'
)


class ProcessRuntime(Runtime):
    """Runs the container as a plain child process: no isolation, for development.

    Volumes: where the worker may make mount namespaces (root, or CAP_SYS_ADMIN), each container
    gets its own copy of each volume bound at its mount path, as under bwrap: its writes reach
    others only through its commit, and a container killed mid-write leaves its partial file in
    its own work directory, never in what another container commits. Elsewhere (an unprivileged
    Docker container) the mount path is a link into one directory per volume shared by the
    host's containers (_volume_sync.py), with the warning that this implies."""

    name = "process"
    _warned = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._namespaces: bool | None = None  # whether `unshare --mount` works here, once probed

    async def binds_volumes(self) -> bool:
        if self._namespaces is None:
            self._namespaces = await _can_unshare_mounts()
            if not self._namespaces:
                log.warning(
                    "runtime 'process' cannot make mount namespaces here (not root, or no unshare): containers "
                    "on this host share each volume's files, and a container killed mid-write can leave a "
                    "partial file that another container's commit sends"
                )
        return self._namespaces

    async def launch(self, cfg: ContainerConfig, stdin: int = asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
        if not ProcessRuntime._warned:
            log.warning("runtime 'process' gives containers NO isolation: use it for trusted code only")
            ProcessRuntime._warned = True
        if cfg.outbound_allowlist and not cfg.block_network:  # (placement never sends one here)
            raise RuntimeError(
                "the process runtime cannot enforce an outbound_cidr_allowlist: it shares the host's network"
            )
        env = self.container_env(cfg)
        own_mounts: list[str] = []
        binds, volume_env = runtime_binds(cfg.env, cfg.workdir) if await self.binds_volumes() else ([], {})
        if binds:
            env.update(volume_env)
            pairs = [str(part) for host_dir, mount_path in binds for part in (host_dir, mount_path)]
            own_mounts = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _BIND_VOLUMES]
            own_mounts += ["nano-modal-volumes", *pairs, "--"]
        return await self._exec([*self._limit(cfg), *own_mounts, *cfg.argv()], env, cfg.workdir, stdin)

    def container_env(self, cfg: ContainerConfig, runtime_id: str = "") -> dict[str, str]:
        env = super().container_env(cfg, runtime_id)
        if cfg.agent_dir is not None:
            env[AGENT_SOCKET_ENV] = str(cfg.agent_dir / AGENT_SOCKET)
        return env


async def _can_unshare_mounts() -> bool:
    """Whether a bind mount in a new mount namespace works here (what launch() does per volume)."""
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="nano-modal-probe-") as probe:
        argv = ["unshare", "--mount", "--propagation", "private", "--", "mount", "--bind", probe, probe]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            return await asyncio.wait_for(proc.wait(), PROBE_TIMEOUT) == 0
        except (OSError, TimeoutError):
            return False


RUNTIMES: dict[str, type[Runtime]] = {"process": ProcessRuntime, "bwrap": BwrapRuntime, "gvisor": GVisorRuntime}


def make_runtime(name: str, **kwargs: object) -> Runtime:
    try:
        cls = RUNTIMES[name]
    except KeyError:
        raise SystemExit(f"unknown runtime {name!r}; available: {', '.join(RUNTIMES)}") from None
    return cls(**kwargs)  # type: ignore[arg-type]
