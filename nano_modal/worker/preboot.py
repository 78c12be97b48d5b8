"""Containers booted ahead of need, so that a cold start skips the runtime's start and the
entrypoint's imports (container/preboot.py is the other half), and a sandbox's creation the
runtime's start and its agent's (container/sandbox_agent.py, `main(booted=True)`).

Under gVisor that is most of a cold start: ~0.2 s of `runsc create` and `start`, then ~1 s
of imports, each file read a round trip to the gofer. The worker keeps `size` containers
booted per network mode, for the host's Python and for each of the MAX_IMAGES images last
started; start() hands one over when the container asked for is a function container
or a sandbox without volumes (their directories are bound at start) whose environment matches the
booted one in everything Python or the SDK reads at start-up, and whose memory limit
leaves room above what the booted one uses; then it boots a replacement. Anything else
starts as before. Sandboxes' containers are booted only once the worker has run a sandbox
(each keeps its memory while idle), and without the server's address (a sandbox never gets
it); their agent dials the worker at boot and is handed its sandbox's environment over that
link (sandbox_relay.AgentLink.assign), which the sandbox's relay then takes over.

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
from typing import TYPE_CHECKING, Any

from .. import config
from .base import ENTRYPOINT_ARGS, ENV_CPU_LIMIT, PREBOOT_ARGS, ContainerConfig
from .sandbox_relay import AGENT_ARGS, AGENT_CONNECT_TIMEOUT, BOOTED_AGENT_ARGS, AgentLink

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


# Seconds before a booted sandbox handed over is replaced: its boot (a disk, the runtime, Python:
# ~30 ms of CPU under bwrap, ~0.3 s under gVisor) would otherwise share the cores with the sandbox's
# first command, the moment its creator is waiting for.
SANDBOX_REFILL_DELAY = 0.1
# Images whose containers are kept booted (the most recently started ones): each keeps a
# container's memory (~20-40 MB) while idle.
MAX_IMAGES = 4
# Bytes of a booted container's stderr quoted when it ends before it is ready.
STDERR_SHOWN = 2000

Key = tuple[bool, str, bool]  # (block_network, image id or "" for the host's Python, a sandbox's)


@dataclass
class Booted:
    cfg: ContainerConfig  # what it was booted with: its id, workdir, agent directory, image root
    proc: asyncio.subprocess.Process
    env: dict[str, str]  # the environment it started with
    link: AgentLink | None = None  # a sandbox's: its agent, dialed in, waiting for its assignment


class Preboot:
    def __init__(self, runtime: Runtime, size: int) -> None:
        self.runtime = runtime
        self.size = size
        self.ready: dict[Key, list[Booted]] = {}
        self.booting: dict[Key, int] = {}
        self.waiting: dict[Key, int] = {}  # take()s waiting for a boot in flight (at most one per boot)
        self.boot_ended: dict[Key, asyncio.Event] = {}  # set when a boot of that kind ends, either way
        self.refills: dict[Key, asyncio.TimerHandle] = {}  # sandboxes' replacements due (SANDBOX_REFILL_DELAY)
        self.images: dict[str, ImageRoot] = {}  # image id -> a root to copy, in the order last used
        self.base_env: dict[str, str] | None = None  # set by configure(); nothing boots before
        self.server_url = ""
        self.tasks: set[asyncio.Task[None]] = set()
        self.handed: dict[str, AgentLink] = {}  # sandbox id -> the link of the booted one it got (claim_link)

    def configure(self, base_env: dict[str, str], server_url: str, block_network: bool) -> None:
        self.base_env, self.server_url = base_env, server_url
        self.fill((block_network, "", False))

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
        sandbox = key[2]
        workdir = Path(tempfile.mkdtemp(prefix="nano-modal-preboot-"))
        env = {**self.base_env, "HOME": str(workdir)}
        if not sandbox:  # the server's address (no credential) lets the runtime set up a network-less one's link
            env[config.ENV_SERVER_URL] = self.server_url
        link = AgentLink() if sandbox else None  # listening before the agent starts: it dials at once
        cfg = ContainerConfig(
            f"pre-{secrets.token_hex(6)}",
            env,
            workdir,
            block_network=key[0],
            python_args=BOOTED_AGENT_ARGS if sandbox else PREBOOT_ARGS,
            agent_dir=link.dir if link is not None else Path(tempfile.mkdtemp(prefix="nano-modal-agent-")),
            image=self.images[key[1]].fresh() if key[1] else None,
        )
        booted: Booted | None = None
        try:
            await asyncio.to_thread(self.runtime.disks.attach, workdir)  # the default size: take() checks
            if link is not None:
                await link.start()
            stdin = asyncio.subprocess.DEVNULL if sandbox else asyncio.subprocess.PIPE
            booted = Booted(cfg, await self.runtime.launch(cfg, stdin=stdin), self.runtime.container_env(cfg), link)
            if link is not None:  # ready once its agent is: a sandbox's first command goes straight to it
                await _dialed(booted.proc, link)
        except BaseException as exc:  # the worker stopping (cancelled) included
            if booted is not None:
                await self._discard(booted)
            else:
                self._remove(cfg, link)
            if not isinstance(exc, Exception):
                raise
            log.warning("could not boot a container ahead of need: %s", str(exc) or type(exc).__name__)
            return
        finally:
            self.booting[key] -= 1
            if (ended := self.boot_ended.pop(key, None)) is not None:
                ended.set()  # (its waiters run after this coroutine's next step: `ready` has it by then)
        self.ready.setdefault(key, []).append(booted)
        log.info("booted %s %s ahead of need", "sandbox" if sandbox else "container", cfg.container_id)

    async def take(self, cfg: ContainerConfig) -> asyncio.subprocess.Process | None:
        """A booted container, now `cfg`'s (re-homed to its workdir, agent directory and image
        root); None when none is ready or `cfg` asks for something a booted one cannot be."""
        mounts = config.ENV_VOLUMES in cfg.env or config.ENV_BUCKETS in cfg.env  # bound at start
        if cfg.command or cfg.python_args not in (ENTRYPOINT_ARGS, AGENT_ARGS) or mounts or cfg.outbound_allowlist:
            return None
        sandbox = cfg.python_args == AGENT_ARGS
        key: Key = (cfg.block_network, cfg.image.image.image_id if cfg.image is not None else "", sandbox)
        if cfg.image is not None:
            await self._remember(key[1], cfg.image)
        ready = self.ready.setdefault(key, [])
        if not ready and (due := self.refills.pop(key, None)) is not None:
            due.cancel()  # wanted now: its boot would no longer share the cores with a first command
            self.fill(key)
        if not ready and self.waiting.get(key, 0) < self.booting.get(key, 0):
            # One is booting: it is ready sooner than a container started now would be (they
            # would share the cores). One waiter per boot in flight; the others start afresh.
            self.waiting[key] = self.waiting.get(key, 0) + 1
            try:
                await self.boot_ended.setdefault(key, asyncio.Event()).wait()
            finally:
                self.waiting[key] -= 1
        while ready and ready[0].proc.returncode is not None:
            await self._discard(ready.pop(0))
        booted = ready.pop(0) if ready else None
        if not sandbox:  # the next one, whether this one is handed over or not
            self.fill(key)
        elif key not in self.refills:
            self.refills[key] = asyncio.get_running_loop().call_later(SANDBOX_REFILL_DELAY, self._refill, key)
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
            if booted.link is not None:
                await booted.link.assign(target)
            else:
                assert booted.proc.stdin is not None
                booted.proc.stdin.write(json.dumps(target).encode() + b"\n")
                await booted.proc.stdin.drain()
                booted.proc.stdin.close()
        except (OSError, ConnectionError, RuntimeError) as exc:  # limits or routes that cannot be set, or it died
            log.warning("booted container %s not used for %s: %s", booted.cfg.container_id, cfg.container_id, exc)
            await self._discard(booted)
            return None
        self.runtime.rekey(booted.cfg.container_id, cfg.container_id)
        if booted.link is not None:
            self.handed[cfg.container_id] = booted.link
        log.info("container %s runs in %s, booted ahead of need", cfg.container_id, booted.cfg.container_id)
        self.runtime.disks.remove(cfg.workdir)  # made for it by the worker, empty: the booted one's is used
        cfg.workdir, cfg.agent_dir, cfg.image, cfg.env = rehomed.workdir, rehomed.agent_dir, rehomed.image, rehomed.env
        return booted.proc

    def _refill(self, key: Key) -> None:
        self.refills.pop(key, None)
        self.fill(key)

    def claim_link(self, container_id: str) -> AgentLink | None:
        """The link of the booted sandbox start() just handed `container_id` (None: it got none)."""
        return self.handed.pop(container_id, None)

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
        for due in self.refills.values():
            due.cancel()
        for task in list(self.tasks):
            task.cancel()
        for ready in self.ready.values():
            while ready:
                await self._discard(ready.pop())

    def _remove(self, cfg: ContainerConfig, link: AgentLink | None) -> None:
        self.runtime.disks.remove(cfg.workdir)
        if link is not None:
            link.close()
        if cfg.agent_dir is not None:
            shutil.rmtree(cfg.agent_dir, ignore_errors=True)

    async def _discard(self, booted: Booted) -> None:
        if booted.proc.stdin is not None:
            booted.proc.stdin.close()  # end of file: it exits by itself
        if booted.link is not None:
            booted.link.close()  # ... as a booted agent does at the end of its link
        await self.runtime.stop(booted.proc, grace=1.0)
        with contextlib.suppress(Exception):
            await self.runtime.finish(booted.cfg, booted.proc.returncode or 0)
        self._remove(booted.cfg, booted.link)


async def _dialed(proc: asyncio.subprocess.Process, link: AgentLink) -> None:
    """Wait for a booted sandbox's agent to dial in; if its container ends first, say how at once
    (not after AGENT_CONNECT_TIMEOUT) with the first of what it wrote to stderr."""
    exited = asyncio.ensure_future(proc.wait())
    either: set[asyncio.Future[Any]] = {link.connected, exited}
    try:
        first = asyncio.FIRST_COMPLETED
        done, _ = await asyncio.wait(either, timeout=AGENT_CONNECT_TIMEOUT, return_when=first)
    finally:
        exited.cancel()
    if link.connected.done():
        return
    if not done:
        raise TimeoutError(f"its agent did not dial in within {AGENT_CONNECT_TIMEOUT:.0f} s")
    said = b""
    if proc.stderr is not None:
        with contextlib.suppress(TimeoutError):
            said = await asyncio.wait_for(proc.stderr.read(STDERR_SHOWN), 1.0)
    said_text = said.decode(errors="replace").strip()
    raise RuntimeError(f"it exited ({proc.returncode}) before its agent dialed in: {said_text}")


def _startup_keys(*envs: dict[str, str]) -> set[str]:
    return {k for env in envs for k in env if k.startswith(STARTUP_PREFIXES) and k not in READ_LATER}
