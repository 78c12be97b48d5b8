"""Function containers booted ahead of need, so that a cold start skips the runtime's start
and the entrypoint's imports (container/preboot.py is the other half).

Under gVisor that is most of a cold start: ~0.2 s of `runsc create` and `start`, then ~1 s
of imports, each file read a round trip to the gofer. The worker keeps `size` containers
booted per network mode; start() hands one over when the container asked for is a plain
function container (the host's Python, no image, no volumes) whose environment matches the
booted one in everything Python or the SDK reads at start-up, and whose memory limit
leaves room above what the booted one uses; then it boots a replacement. Anything else
starts as before.

A booted container is used once. Until then it holds nothing of anyone's: no token, no
container id, no secret (only the server's address); it gets them with its assignment, in
its own environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from .base import ENTRYPOINT_ARGS, PREBOOT_ARGS, ContainerConfig

if TYPE_CHECKING:
    from .base import Runtime

log = logging.getLogger("nano_modal.worker")

# Environment variables read when the interpreter or the SDK starts: a container whose value of
# one of these differs from the booted container's starts afresh instead.
STARTUP_PREFIXES = ("PYTHON", "LD_", "GRPC_", "NANO_MODAL_")
# ... except the SDK's own, read only once the assignment has arrived (or not in the container).
READ_LATER = {
    config.ENV_SERVER_URL,
    config.ENV_TOKEN,
    config.ENV_CONTAINER_ID,
    config.ENV_IS_REMOTE,
    config.ENV_BLOCK_NETWORK,
    "NANO_MODAL_CPU_LIMIT",  # the worker's, for the cgroup
}


@dataclass
class Booted:
    cfg: ContainerConfig  # what it was booted with: its id, workdir, agent directory
    proc: asyncio.subprocess.Process
    env: dict[str, str]  # the environment it started with


class Preboot:
    def __init__(self, runtime: Runtime, size: int) -> None:
        self.runtime = runtime
        self.size = size
        self.ready: dict[bool, list[Booted]] = {}  # by block_network
        self.booting: dict[bool, int] = {}
        self.base_env: dict[str, str] | None = None  # set by configure(); nothing boots before
        self.server_url = ""
        self.tasks: set[asyncio.Task[None]] = set()

    def configure(self, base_env: dict[str, str], server_url: str, block_network: bool) -> None:
        self.base_env, self.server_url = base_env, server_url
        self.fill(block_network)

    def fill(self, block_network: bool) -> None:
        """Boot containers of this network mode in the background until `size` are ready or booting."""
        if self.base_env is None:
            return
        missing = self.size - len(self.ready.get(block_network, [])) - self.booting.get(block_network, 0)
        for _ in range(missing):
            self.booting[block_network] = self.booting.get(block_network, 0) + 1
            task = asyncio.create_task(self._boot(block_network))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _boot(self, block_network: bool) -> None:
        assert self.base_env is not None
        workdir = Path(tempfile.mkdtemp(prefix="nano-modal-preboot-"))
        # The server's address (no credential) lets the runtime set up a network-less container's link.
        env = {**self.base_env, "HOME": str(workdir), config.ENV_SERVER_URL: self.server_url}
        cfg = ContainerConfig(
            f"pre-{secrets.token_hex(6)}",
            env,
            workdir,
            block_network=block_network,
            python_args=PREBOOT_ARGS,
            agent_dir=Path(tempfile.mkdtemp(prefix="nano-modal-agent-")),
        )
        try:
            proc = await self.runtime.launch(cfg, stdin=asyncio.subprocess.PIPE)
        except BaseException as exc:  # the worker stopping (cancelled) included
            _remove(cfg)
            if not isinstance(exc, Exception):
                raise
            log.warning("could not boot a container ahead of need: %s", exc)
            return
        finally:
            self.booting[block_network] -= 1
        booted = Booted(cfg, proc, self.runtime.container_env(cfg))
        self.ready.setdefault(block_network, []).append(booted)
        log.info("booted container %s ahead of need", cfg.container_id)

    async def take(self, cfg: ContainerConfig) -> asyncio.subprocess.Process | None:
        """A booted container, now `cfg`'s (re-homed to its workdir and agent directory); None
        when none is ready or `cfg` asks for something a booted container cannot be."""
        if cfg.image is not None or cfg.command or cfg.python_args != ENTRYPOINT_ARGS or config.ENV_VOLUMES in cfg.env:
            return None
        ready = self.ready.get(cfg.block_network, [])
        while ready and ready[0].proc.returncode is not None:
            await self._discard(ready.pop(0))
        booted = ready.pop(0) if ready else None
        self.fill(cfg.block_network)  # the next one, whether this one is handed over or not
        if booted is None:
            return None
        home, agent_dir, env = cfg.workdir, cfg.agent_dir, cfg.env
        cfg.workdir, cfg.agent_dir = booted.cfg.workdir, booted.cfg.agent_dir
        if env.get("HOME") == str(home):
            cfg.env = {**env, "HOME": str(cfg.workdir)}
        target = self.runtime.container_env(cfg, booted.cfg.container_id)
        differs = any(target.get(k) != booted.env.get(k) for k in _startup_keys(target, booted.env))
        if differs or not self.runtime.fits_limits(booted.cfg, cfg):
            cfg.workdir, cfg.agent_dir, cfg.env = home, agent_dir, env
            ready.insert(0, booted)
            return None
        try:
            self.runtime.apply_limits(booted.cfg, cfg)
            assert booted.proc.stdin is not None
            booted.proc.stdin.write(json.dumps(target).encode() + b"\n")
            await booted.proc.stdin.drain()
            booted.proc.stdin.close()
        except (OSError, ConnectionError) as exc:  # limits that cannot be met, or it died just now
            log.warning("booted container %s not used for %s: %s", booted.cfg.container_id, cfg.container_id, exc)
            cfg.workdir, cfg.agent_dir, cfg.env = home, agent_dir, env
            await self._discard(booted)
            return None
        self.runtime.rekey(booted.cfg.container_id, cfg.container_id)
        log.info("container %s runs in %s, booted ahead of need", cfg.container_id, booted.cfg.container_id)
        shutil.rmtree(home, ignore_errors=True)  # made for it by the worker, empty: the booted one's is used
        return booted.proc

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for ready in self.ready.values():
            while ready:
                await self._discard(ready.pop())

    async def _discard(self, booted: Booted) -> None:
        if booted.proc.stdin is not None:
            booted.proc.stdin.close()  # end of file: it exits by itself
        await self.runtime.stop(booted.proc, grace=1.0)
        with contextlib.suppress(Exception):
            await self.runtime.finish(booted.cfg, booted.proc.returncode or 0)
        _remove(booted.cfg)


def _startup_keys(*envs: dict[str, str]) -> set[str]:
    return {k for env in envs for k in env if k.startswith(STARTUP_PREFIXES) and k not in READ_LATER}


def _remove(cfg: ContainerConfig) -> None:
    shutil.rmtree(cfg.workdir, ignore_errors=True)
    if cfg.agent_dir is not None:
        shutil.rmtree(cfg.agent_dir, ignore_errors=True)
