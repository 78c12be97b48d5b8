"""Function containers booted ahead of need, so that a cold start skips the runtime's start
and the entrypoint's imports (container/preboot.py is the other half).

Under gVisor that is most of a cold start: ~0.2 s of `runsc create` and `start`, then ~1 s
of imports, each file read a round trip to the gofer. The worker keeps `size` containers
booted per network mode, for the host's Python and for each of the MAX_IMAGES images last
started; start() hands one over when the container asked for is a function container
without volumes (their directories are bound at start) whose environment matches the
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from .base import ENTRYPOINT_ARGS, ENV_CPU_LIMIT, PREBOOT_ARGS, ContainerConfig

if TYPE_CHECKING:
    from .base import Runtime
    from .images.rootfs import ImageRoot

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
    ENV_CPU_LIMIT,  # the worker's, for the cgroup
}


# Images whose containers are kept booted (the most recently started ones): each keeps a
# container's memory (~20-40 MB) while idle.
MAX_IMAGES = 4

Key = tuple[bool, str]  # (block_network, image id; "" for the host's Python)


@dataclass
class Booted:
    cfg: ContainerConfig  # what it was booted with: its id, workdir, agent directory, image root
    proc: asyncio.subprocess.Process
    env: dict[str, str]  # the environment it started with


class Preboot:
    def __init__(self, runtime: Runtime, size: int) -> None:
        self.runtime = runtime
        self.size = size
        self.ready: dict[Key, list[Booted]] = {}
        self.booting: dict[Key, int] = {}
        self.images: dict[str, ImageRoot] = {}  # image id -> a root to copy, in the order last used
        self.base_env: dict[str, str] | None = None  # set by configure(); nothing boots before
        self.server_url = ""
        self.tasks: set[asyncio.Task[None]] = set()

    def configure(self, base_env: dict[str, str], server_url: str, block_network: bool) -> None:
        self.base_env, self.server_url = base_env, server_url
        self.fill((block_network, ""))

    def fill(self, key: Key) -> None:
        """Boot containers of this kind in the background until `size` are ready or booting."""
        if self.base_env is None or (key[1] and key[1] not in self.images):
            return
        missing = self.size - len(self.ready.get(key, [])) - self.booting.get(key, 0)
        for _ in range(missing):
            self.booting[key] = self.booting.get(key, 0) + 1
            task = asyncio.create_task(self._boot(key))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _boot(self, key: Key) -> None:
        assert self.base_env is not None
        workdir = Path(tempfile.mkdtemp(prefix="nano-modal-preboot-"))
        # The server's address (no credential) lets the runtime set up a network-less container's link.
        env = {**self.base_env, "HOME": str(workdir), config.ENV_SERVER_URL: self.server_url}
        cfg = ContainerConfig(
            f"pre-{secrets.token_hex(6)}",
            env,
            workdir,
            block_network=key[0],
            python_args=PREBOOT_ARGS,
            agent_dir=Path(tempfile.mkdtemp(prefix="nano-modal-agent-")),
            image=self.images[key[1]].fresh() if key[1] else None,
        )
        try:
            await asyncio.to_thread(self.runtime.disks.attach, workdir)  # the default size: take() checks
            proc = await self.runtime.launch(cfg, stdin=asyncio.subprocess.PIPE)
        except BaseException as exc:  # the worker stopping (cancelled) included
            self._remove(cfg)
            if not isinstance(exc, Exception):
                raise
            log.warning("could not boot a container ahead of need: %s", exc)
            return
        finally:
            self.booting[key] -= 1
        booted = Booted(cfg, proc, self.runtime.container_env(cfg))
        self.ready.setdefault(key, []).append(booted)
        log.info("booted container %s ahead of need", cfg.container_id)

    async def take(self, cfg: ContainerConfig) -> asyncio.subprocess.Process | None:
        """A booted container, now `cfg`'s (re-homed to its workdir, agent directory and image
        root); None when none is ready or `cfg` asks for something a booted one cannot be."""
        mounts = config.ENV_VOLUMES in cfg.env or config.ENV_BUCKETS in cfg.env  # bound at start
        if cfg.command or cfg.python_args != ENTRYPOINT_ARGS or mounts or cfg.outbound_allowlist:
            return None
        key: Key = (cfg.block_network, cfg.image.image.image_id if cfg.image is not None else "")
        if cfg.image is not None:
            await self._remember(key[1], cfg.image)
        ready = self.ready.get(key, [])
        while ready and ready[0].proc.returncode is not None:
            await self._discard(ready.pop(0))
        booted = ready.pop(0) if ready else None
        self.fill(key)  # the next one, whether this one is handed over or not
        if booted is None:
            return None
        env = cfg.env
        if env.get("HOME") == str(cfg.workdir):
            env = {**env, "HOME": str(booted.cfg.workdir)}
        # `cfg` as the booted container runs it; `cfg` itself changes only once that is handed over.
        rehomed = replace(
            cfg, workdir=booted.cfg.workdir, agent_dir=booted.cfg.agent_dir, image=booted.cfg.image, env=env
        )
        target = self.runtime.container_env(rehomed, booted.cfg.container_id)
        differs = any(target.get(k) != booted.env.get(k) for k in _startup_keys(target, booted.env))
        disk_differs = self.runtime.disks.size_of(cfg.disk_mb) != self.runtime.disks.size_of(booted.cfg.disk_mb)
        if differs or disk_differs or not self.runtime.fits_limits(booted.cfg, cfg):
            ready.insert(0, booted)
            return None
        try:
            self.runtime.apply_limits(booted.cfg, cfg)
            await self.runtime.before_hand_over(booted.cfg.container_id)
            assert booted.proc.stdin is not None
            booted.proc.stdin.write(json.dumps(target).encode() + b"\n")
            await booted.proc.stdin.drain()
            booted.proc.stdin.close()
        except (OSError, ConnectionError, RuntimeError) as exc:  # limits or routes that cannot be set, or it died
            log.warning("booted container %s not used for %s: %s", booted.cfg.container_id, cfg.container_id, exc)
            await self._discard(booted)
            return None
        self.runtime.rekey(booted.cfg.container_id, cfg.container_id)
        log.info("container %s runs in %s, booted ahead of need", cfg.container_id, booted.cfg.container_id)
        self.runtime.disks.remove(cfg.workdir)  # made for it by the worker, empty: the booted one's is used
        cfg.workdir, cfg.agent_dir, cfg.image, cfg.env = rehomed.workdir, rehomed.agent_dir, rehomed.image, rehomed.env
        return booted.proc

    async def _remember(self, image_id: str, root: ImageRoot) -> None:
        """Keep booting containers of this image; forget the least recently used beyond MAX_IMAGES."""
        self.images.pop(image_id, None)
        self.images[image_id] = root.fresh()
        while len(self.images) > MAX_IMAGES:
            oldest = next(iter(self.images))
            del self.images[oldest]
            for key in [k for k in self.ready if k[1] == oldest]:
                for booted in self.ready.pop(key):
                    await self._discard(booted)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for ready in self.ready.values():
            while ready:
                await self._discard(ready.pop())

    def _remove(self, cfg: ContainerConfig) -> None:
        self.runtime.disks.remove(cfg.workdir)
        if cfg.agent_dir is not None:
            shutil.rmtree(cfg.agent_dir, ignore_errors=True)

    async def _discard(self, booted: Booted) -> None:
        if booted.proc.stdin is not None:
            booted.proc.stdin.close()  # end of file: it exits by itself
        await self.runtime.stop(booted.proc, grace=1.0)
        with contextlib.suppress(Exception):
            await self.runtime.finish(booted.cfg, booted.proc.returncode or 0)
        self._remove(booted.cfg)


def _startup_keys(*envs: dict[str, str]) -> set[str]:
    return {k for env in envs for k in env if k.startswith(STARTUP_PREFIXES) and k not in READ_LATER}
