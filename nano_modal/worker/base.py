"""The runtime interface: what every runtime (runtime.py, bwrap.py, gvisor.py) implements,
and the cgroup limits they share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import nano_modal

from ..exception import InvalidError
from .cgroups import ENV_CONTAINER_MEMORY, Cgroup, CgroupManager, Limits, container_memory_mb
from .disks import ContainerDisks
from .network import IPNetwork

if TYPE_CHECKING:
    from .images.live_mounts import LiveSandbox
    from .images.rootfs import ImageRoot

log = logging.getLogger("nano_modal.worker")

# The container must import the SDK even when it is run from a source checkout.
SDK_ROOT = str(Path(nano_modal.__file__).resolve().parents[1])
DEFAULT_PIDS_LIMIT = 1024  # processes + threads per container: stops fork bombs, not thread pools
# Modal's default soft cpu limit is the request plus 4 cores: a container may burst (cold
# starts are cpu-bound) but not starve the host. A spec env value sets an explicit limit.
CPU_BURST_CORES = 4.0
ENV_CPU_LIMIT = "NANO_MODAL_CPU_LIMIT"
# A trial container imports the SDK (~1 s under gVisor); a loaded machine (load 75 measured) took
# 4.6 s. Only a container that cannot finish them at all should make the worker refuse its runtime.
PROBE_TIMEOUT = 60.0
# The function entrypoint under the host's Python. `-S` skips site's start-up, which runs every
# .pth hook in site-packages (~37 ms natively, ~250 ms under gVisor on the machine measured);
# container/_site.py sets up sys.path as site would and runs those hooks before the user's code.
ENTRYPOINT_ARGS = (
    "-S", "-c",
    "from nano_modal.container import _site; _site.setup(); from nano_modal.container.entrypoint import main; main()",
)  # fmt: skip
# The same container booted ahead of need: it imports, then waits on stdin for its environment.
PREBOOT_ARGS = (
    "-S", "-c",
    "from nano_modal.container import _site; _site.setup(); from nano_modal.container.preboot import main; main()",
)  # fmt: skip
# What the worker's start-up probe runs in a trial container: the entrypoint's imports, not the
# entrypoint (it would wait for a server). A Python whose packages the sandbox cannot see fails here.
PROBE_ARGS = (
    "-S", "-c",
    "from nano_modal.container import _site; _site.setup(); import nano_modal.container.entrypoint",
)  # fmt: skip
# Joins each cgroup listed before "--" ("0" means the writer itself), then execs the rest:
# the process is inside its cgroup before the container's first instruction runs.
_ENTER_CGROUPS = 'for f do [ "$f" = -- ] && break; echo 0 > "$f" || exit 125; shift; done; shift; exec "$@"'


@cache
def worker_user_site() -> str | None:
    """The user site-packages the worker's own packages may come from (`pip install --user`),
    if this Python uses one. Containers have another HOME, so without PYTHONUSERBASE pointed
    here (and, sandboxed, the directory bound) they lost grpc and protobuf: the probe failed
    with `No module named 'google'` and `auto` fell back to no isolation."""
    import site

    if not site.ENABLE_USER_SITE:
        return None
    path = site.getusersitepackages()
    return path if path in sys.path and os.path.isdir(path) else None


def sdk_env(env: dict[str, str]) -> dict[str, str]:
    """What a container's Python needs, on top of `env`, to import the SDK and its dependencies
    as the worker does: the SDK on its path, and the worker's user site (unless `env` names one)."""
    extra = {"PYTHONPATH": os.pathsep.join(p for p in (SDK_ROOT, env.get("PYTHONPATH", "")) if p)}
    if worker_user_site() is not None and "PYTHONUSERBASE" not in env:
        import site

        extra["PYTHONUSERBASE"] = site.getuserbase()
    return extra


def precompile_sdk() -> None:
    """Write the SDK's bytecode caches, once per worker start (a no-op when they are current).
    Containers see the SDK read-only (bwrap, gVisor, images), so a module the worker never
    imported itself (container/_site.py, runner.py...) would be compiled again at every start."""
    import compileall

    try:
        compileall.compile_dir(os.path.join(SDK_ROOT, "nano_modal"), quiet=2)
    except OSError as exc:  # an installation this user cannot write: pip compiled it already
        log.debug("SDK bytecode not written: %s", exc)


@dataclass
class ContainerConfig:
    container_id: str
    env: dict[str, str]
    workdir: Path
    cpu: float = 0.0  # cores requested: the cgroup's weight
    memory_mb: int = 0  # the function's hard memory limit in MiB; 0: the worker's default (limits())
    disk_mb: int = 0  # the size of its disk (disks.py); 0 = the worker's default
    block_network: bool = False  # no network at all but the link to the server
    outbound_allowlist: tuple[IPNetwork, ...] = ()  # a sandbox's outbound_cidr_allowlist (network.py)
    command: list[str] | None = None  # default: the container's python with `python_args`
    python_args: tuple[str, ...] = ENTRYPOINT_ARGS  # the function entrypoint, or a sandbox's agent
    agent_dir: Path | None = None  # a sandbox's: holds the socket its agent dials (sandbox_relay.py)
    image: ImageRoot | None = None  # run in this image's root filesystem (bwrap); None: the host's Python

    def argv(self, python: str = sys.executable) -> list[str]:
        return self.command or [python, *self.python_args]

    def limits(self, pids: int, default_memory_mb: int = 0) -> Limits:
        """Its cgroup's limits; `default_memory_mb`: the worker's memory limit for a container
        whose function set none (cgroups.container_memory_mb)."""
        explicit = self.env.get(ENV_CPU_LIMIT)
        cpu_limit = float(explicit) if explicit else (self.cpu + CPU_BURST_CORES if self.cpu else 0.0)
        memory_mb = self.memory_mb or default_memory_mb
        return Limits(memory_mb=memory_mb, cpu=cpu_limit, cpu_shares=self.cpu, pids=pids)


@cache
def cgroup_manager() -> CgroupManager | None:
    return CgroupManager.detect()


class Runtime(ABC):
    name: str
    # The server's fast-lane port (0: none), as the worker's Hello learned it (agent.py sets it):
    # relayed to containers that have no network route to the server (sandbox.py ServerLink).
    server_fast_lane_port: int = 0
    # Whether its containers' writes stay inside the directories it gives them, so that a disk
    # of their own on those bounds them (disks.py); a plain process can write anywhere.
    confines_writes: bool = False

    def __init__(self, *, limits: bool = True, pids_limit: int = DEFAULT_PIDS_LIMIT, preboot: int = 0) -> None:
        from .preboot import Preboot  # it builds on this module

        self.disks = ContainerDisks.detect() if self.confines_writes else ContainerDisks(0, enabled=False)
        self.cgroups = cgroup_manager() if limits else None
        self.pids_limit = pids_limit
        self.default_memory_mb = container_memory_mb() if self.cgroups is not None else 0
        self._cgroup: dict[str, Cgroup] = {}
        self.preboot = Preboot(self, preboot) if preboot > 0 else None

    async def start(self, cfg: ContainerConfig) -> asyncio.subprocess.Process:
        """Start the container; its stdout and stderr are pipes, its pid a process group leader.

        With `preboot` set, the container may be one booted earlier (worker/preboot.py): then
        `cfg.workdir` and `cfg.agent_dir` are that container's when start() returns."""
        if self.preboot is not None:
            proc = await self.preboot.take(cfg)
            if proc is not None:
                return proc
        await asyncio.to_thread(self.disks.attach, cfg.workdir, cfg.disk_mb)
        return await self.launch(cfg)

    @abstractmethod
    async def launch(self, cfg: ContainerConfig, stdin: int = asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
        """Start a new container for `cfg`, with `stdin` as its standard input."""

    def container_env(self, cfg: ContainerConfig, runtime_id: str = "") -> dict[str, str]:
        """The environment the container of `cfg` sees (`runtime_id`: the one it runs as, if not its own)."""
        return {**cfg.env, **sdk_env(cfg.env)}

    def live_sandbox(self, proc: asyncio.subprocess.Process, cfg: ContainerConfig) -> LiveSandbox:
        """The running sandbox `cfg`, for reaching into its files from outside (mount_image, snapshot_directory)."""
        raise InvalidError(
            f"the {self.name} runtime cannot reach into a running sandbox (mount_image, unmount_image, "
            "snapshot_directory): run the sandbox on a bwrap worker"
        )

    async def binds_volumes(self) -> bool:
        """Whether containers get a private directory bound at each volume mount path (NANO_MODAL_MOUNTS)."""
        return True

    def fits_limits(self, booted: ContainerConfig, cfg: ContainerConfig) -> bool:
        """Whether the running container `booted` uses less memory than `cfg` may (with room to run)."""
        cgroup = self._cgroup.get(booted.container_id)
        limit_mb = cfg.limits(self.pids_limit, self.default_memory_mb).memory_mb
        return not (cgroup and limit_mb) or cgroup.memory_usage() < limit_mb * 1024 * 1024 * 0.8

    def apply_limits(self, booted: ContainerConfig, cfg: ContainerConfig) -> None:
        """Give the running container `booted` the limits `cfg` asks for (OSError if one cannot be set)."""
        cgroup = self._cgroup.get(booted.container_id)
        if cgroup is not None and self.cgroups is not None:
            self.cgroups.apply(cgroup, cfg.limits(self.pids_limit, self.default_memory_mb), strict=True)

    async def before_hand_over(self, container_id: str) -> None:
        """Bring the booted container `container_id` up to date before it runs a caller's code."""
        return None  # nothing to do for a container without a network of its own

    def rekey(self, old_id: str, new_id: str) -> None:
        """What the runtime keeps for container `old_id` is now `new_id`'s (a booted container handed over)."""
        if old_id in self._cgroup:
            self._cgroup[new_id] = self._cgroup.pop(old_id)

    async def warm_up(self, base_env: dict[str, str], server_url: str, block_network: bool) -> None:
        """Called once the worker is registered. `base_env` is what every container's
        environment starts from; containers of `block_network` are the ones to expect."""
        await self.disks.start()
        if self.preboot is not None:
            self.preboot.configure(base_env, server_url, block_network)

    async def close(self) -> None:
        """The worker is stopping: release what is kept beyond any one container."""
        if self.preboot is not None:
            await self.preboot.close()
        self.disks.close()

    async def finish(self, cfg: ContainerConfig, code: int) -> str:
        """Release what start() took once the process has exited; say why it died, if known."""
        cgroup = self._cgroup.pop(cfg.container_id, None)
        reason = ""
        if cgroup is not None:
            if cgroup.limits.memory_mb and code != 0 and cgroup.oom_killed():
                reason = f"out of memory: limit {cgroup.limits.memory_mb} MiB"
                if not cfg.memory_mb:  # say where the limit came from, and how to get another
                    reason += f", the worker's default {ENV_CONTAINER_MEMORY}; a function's memory= sets its own"
            elif cgroup.limits.pids and code != 0 and cgroup.pids_exhausted():
                reason = f"too many processes: limit {cgroup.limits.pids}"
            await asyncio.to_thread(cgroup.destroy)
        return reason

    async def stop(self, proc: asyncio.subprocess.Process, grace: float = 2.0) -> None:
        """SIGTERM the container's process group, SIGKILL it after `grace` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            if proc.returncode is not None:
                return
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                await asyncio.wait_for(proc.wait(), wait)
                return
            except TimeoutError:
                continue

    async def signal_entrypoint(self, proc: asyncio.subprocess.Process, cfg: ContainerConfig, sig: int) -> None:
        """Send `sig` to the container's own first process (not to a wrapper around it)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)  # the cgroup prologue execs it: same pid

    async def probe(self) -> str | None:
        """Start a trial container the way function containers start, up to the entrypoint's imports
        (the SDK and its dependencies, as the container sees them); None if it works, else the
        reason, in one line."""
        workdir = Path(tempfile.mkdtemp(prefix="nano-modal-probe-"))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        cfg = ContainerConfig("probe", env, workdir, python_args=PROBE_ARGS)
        proc = None
        try:
            proc = await self.start(cfg)
            out, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT)
            if proc.returncode != 0:
                lines = [line.strip() for line in (out + err).decode(errors="replace").splitlines() if line.strip()]
                return f"{lines[-1] if lines else 'no output'} (exit code {proc.returncode})"
            return None
        except TimeoutError:
            return f"a trial container did not finish its imports within {PROBE_TIMEOUT:.0f} s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            if proc is not None:
                await self.stop(proc, grace=0)  # a no-op unless it hung
                await self.finish(cfg, proc.returncode or 0)
            self.disks.remove(workdir)  # its disk (mounted, held against the disks' budget), then the directory

    def _limit(self, cfg: ContainerConfig) -> list[str]:
        """Create the container's cgroup; return the argv prefix that moves the process into it."""
        if self.cgroups is None:
            return []
        try:
            cgroup = self.cgroups.create(cfg.container_id, cfg.limits(self.pids_limit, self.default_memory_mb))
        except OSError as exc:
            log.warning("container %s runs without limits: %s", cfg.container_id, exc)
            return []
        self._cgroup[cfg.container_id] = cgroup
        return ["/bin/sh", "-c", _ENTER_CGROUPS, "nano-modal-cgroup", *map(str, cgroup.procs_files()), "--"]

    @staticmethod
    async def _exec(
        argv: list[str], env: dict[str, str], cwd: Path, stdin: int = asyncio.subprocess.DEVNULL, **kwargs: object
    ) -> asyncio.subprocess.Process:
        log.debug("exec %s", shlex.join(argv))
        return await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so stop() reaches its children too
            **kwargs,  # type: ignore[arg-type]
        )
