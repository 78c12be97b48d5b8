"""The worker's side of images: build before a container starts, stream the build log to
the app's logs (config.IMAGE_BUILD_LOG_FD, shown by the client as a build display), and turn a failed
build into the function's init failure, so callers get the error instead of a hang."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import config
from ...client import Client
from ...exception import ExecutionError, InvalidError
from ...proto import api_pb2
from ...serialization import serialize
from ..base import ContainerConfig
from ..sandbox_relay import AGENT_CONNECT_TIMEOUT, commit_volumes, sync_volumes
from .builder import ImageBuilder, VolumeHook
from .deps import MODAL_CLIENT_DISTS, RUNTIME_DISTS
from .live_mounts import LiveSandbox, copy_out, mount, release, unmount
from .rootfs import ImageRoot, sweep_mounts
from .snapshot import snapshot, snapshot_directory
from .steps import StepError
from .venv import prepare_venv

if TYPE_CHECKING:
    from ..base import Runtime

log = logging.getLogger("nano_modal.worker")

# What a sandbox's worker runs for it (sandbox_relay.py's worker builtins): name -> action(argv).
Builtins = dict[str, Callable[[list[str]], Awaitable[str]]]

ROOTFS_RUNTIMES = ("bwrap", "gvisor")  # runtimes that can start a container in an image's root filesystem


class WorkerImages:
    def __init__(self, client: Client, emit: Callable[[api_pb2.LogLine], None]) -> None:
        self.client = client
        self.emit = emit
        self._builder: ImageBuilder | None = None
        self._live: dict[str, LiveSandbox] = {}  # running sandboxes reached into (mount_image, ...)

    @property
    def builder(self) -> ImageBuilder:
        if self._builder is None:  # created on first use: workers that never see an image need no cache
            self._builder = ImageBuilder()
            sweep_mounts()
        return self._builder

    async def snapshot(self, cfg: ContainerConfig) -> str:
        """The container's filesystem changes as a new image (Sandbox.snapshot_filesystem)."""
        if not isinstance(cfg.image, ImageRoot):
            raise InvalidError("snapshot_filesystem needs a sandbox created with image= on an isolating runtime")
        return await asyncio.to_thread(snapshot, self.builder.store, cfg.image, cfg.container_id)

    def live_builtins(
        self,
        runtime: Runtime,
        proc: asyncio.Future[asyncio.subprocess.Process],
        cfg: ContainerConfig,
        started: asyncio.Future[Any],
    ) -> Builtins:
        """Sandbox.snapshot_directory, mount_image and unmount_image of the sandbox `cfg` (whose
        process `proc` will be), once `started` (its agent dialed in: a process of its own is in
        its namespaces by then)."""

        async def live() -> LiveSandbox:
            await asyncio.wait_for(asyncio.shield(started), AGENT_CONNECT_TIMEOUT)
            if cfg.container_id not in self._live:  # InvalidError from runtimes that cannot
                self._live[cfg.container_id] = runtime.live_sandbox(await proc, cfg)
            return self._live[cfg.container_id]

        async def snapshot_dir(argv: list[str]) -> str:
            sandbox, path = await live(), argv[0]
            fill = functools.partial(copy_out, sandbox, path)
            store = self.builder.store
            return await asyncio.to_thread(snapshot_directory, store, cfg.container_id, path, fill, sandbox.root_uid)

        async def mount_image(argv: list[str]) -> str:
            sandbox = await live()
            spec = api_pb2.ImageSpec.FromString(base64.b64decode(argv[1]))
            built = await self.builder.ensure(spec, self.client.download_blob, self._build_log(cfg.container_id))
            await asyncio.to_thread(mount, sandbox, argv[0], built)
            return ""

        async def unmount_image(argv: list[str]) -> str:
            await asyncio.to_thread(unmount, await live(), argv[0])
            return ""

        return {"snapshot_directory": snapshot_dir, "mount_image": mount_image, "unmount_image": unmount_image}

    async def forget(self, container_id: str) -> None:
        """The sandbox has exited: the host side of the images mounted into it goes."""
        sandbox = self._live.pop(container_id, None)
        if sandbox is not None:
            await asyncio.to_thread(release, sandbox)

    def _build_log(self, container_id: str) -> Callable[[str], None]:
        """A build's progress as the container's build log lines (called from the build's thread)."""
        loop = asyncio.get_running_loop()

        def out(text: str) -> None:
            line = api_pb2.LogLine(
                container_id=container_id, fd=config.IMAGE_BUILD_LOG_FD, data=text + "\n", timestamp=time.time()
            )
            loop.call_soon_threadsafe(self.emit, line)

        return out

    async def prepare(self, spec: api_pb2.ContainerSpec, cfg: ContainerConfig, runtime: str) -> None:
        """Build the container's image if needed and point `cfg` at it: a root filesystem for
        bwrap, a virtual environment of the worker's Python for `process` (venv.py)."""
        if not spec.HasField("image"):
            return
        loop = asyncio.get_running_loop()
        out = self._build_log(spec.container_id)

        if runtime == "process":
            async with self.builder.lock(spec.image.image_id):
                python, env = await asyncio.to_thread(prepare_venv, self.builder.store, spec.image, out)
            cfg.command = [python, "-m", "nano_modal.container"]
            cfg.env.update(env)
            # `python` in the container's commands is the image's, as it would be in its root.
            cfg.env["PATH"] = os.pathsep.join(p for p in (str(Path(python).parent), cfg.env.get("PATH", "")) if p)
            return
        if runtime not in ROOTFS_RUNTIMES:
            out(f"runtime {runtime!r} cannot run images yet: the image is ignored and the worker's Python is used")
            return
        secrets = {entry.step: dict(entry.env) for entry in spec.image_secrets}
        built = await self.builder.ensure(
            spec.image, self.client.download_blob, out, secrets, self._volume_hook(loop, out)
        )
        # A function defined with the real modal client runs Modal's entrypoint: its client too.
        names = MODAL_CLIENT_DISTS if spec.env.get(config.ENV_MODAL_BUNDLE) else RUNTIME_DISTS
        deps = await asyncio.to_thread(self.builder.runtime_deps, built, out, names)
        cfg.image = ImageRoot(built, deps)

    def _volume_hook(self, loop: asyncio.AbstractEventLoop, out: Callable[[str], None]) -> VolumeHook:
        """Volumes for a run_function step, synced with the worker's own credential (the build
        runs in a thread; the transfers run on the worker's loop)."""

        @contextlib.contextmanager
        def mounted(step: api_pb2.ImageStep) -> Iterator[list[tuple[Path, str]]]:
            specs = [
                {"path": m.mount_path, "volume_id": m.volume_id, "read_only": m.read_only} for m in step.volume_mounts
            ]
            env = {config.ENV_VOLUMES: json.dumps(specs)}
            with tempfile.TemporaryDirectory(prefix="nano-modal-build-volumes-") as scratch:
                mounts = asyncio.run_coroutine_threadsafe(
                    sync_volumes(self.client, env, Path(scratch), binds=True), loop
                ).result()
                out(f"  volumes: {', '.join(m.path for m in mounts)}")
                yield [(m.directory, m.path) for m in mounts]
                asyncio.run_coroutine_threadsafe(commit_volumes(self.client, mounts), loop).result()

        return mounted

    async def report_failure(self, spec: api_pb2.ContainerSpec, exc: BaseException) -> str:
        """Tell the server the function cannot start (as a container failing to import would)."""
        if isinstance(exc, StepError | InvalidError):
            message = f"building image {spec.image.image_id} failed: {exc}"
        else:
            log.exception("building image %s failed", spec.image.image_id)
            message = f"building image {spec.image.image_id} failed: {type(exc).__name__}: {exc}"
        error = ExecutionError(message)
        as_container = Client(self.client.server_url, spec.task_token)  # the call is the container's to make
        try:
            payload = await as_container.make_payload(serialize(error))
            request = api_pb2.ContainerInitFailedRequest(
                container_id=spec.container_id, exception=payload, exception_repr=message, traceback=""
            )
            await as_container.stub.ContainerInitFailed(request, timeout=10)
        except Exception:
            log.exception("could not report the failed build of %s", spec.image.image_id)
        finally:
            await as_container.stub.channel.close(None)
        return message
