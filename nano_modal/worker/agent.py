"""The worker agent: one long-poll loop for commands, one task per container."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from .._bucket_sync import BucketMount, take_buckets
from .._volume_sync import Mount
from ..client import Client
from ..exception import ConnectionError
from ..proto import api_pb2
from .base import precompile_sdk
from .buckets import download_buckets, start_failure, upload_buckets
from .cpu_use import CpuSampler
from .images.service import WorkerImages
from .network import parse_networks
from .runtime import ContainerConfig, Runtime
from .sandbox_relay import (
    AGENT_ARGS,
    ATTACH_TIMEOUT,
    AgentLink,
    commit_volumes,
    relay,
    reload_volumes,
    sync_volumes,
)

log = logging.getLogger("nano_modal.worker")

# Seconds the server may hold a WorkerPoll when it has nothing to say. Each poll carries the CPU
# use since the previous one (cpu_use.py): the autoscaler sees a CPU-bound map within a second.
POLL_TIMEOUT = 1.0
LOG_FLUSH_INTERVAL = 0.02  # seconds between log shipments
LOG_BATCH_MAX = 500  # lines per WorkerLogs request
LOG_CALL_ID_MAX = 64  # characters of a call id a container names (the server checks the id itself)
LOG_LINE_MAX = 64 * 1024  # longer lines are split
STOP_GRACE = 2.0  # seconds a stopping container without writable volumes has for its exit hooks
# Variables from the worker's own environment that containers may see; nothing else leaks in.
PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", config.ENV_FAST_LANE)


def _memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 4096


def _gpus() -> list[str]:
    """The models of this host's NVIDIA GPUs, one per device (none without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # "GPU 0: Tesla T4 (UUID: GPU-...)" -> "Tesla T4"
    return [line.split(":", 1)[1].split("(UUID")[0].strip() for line in listing.splitlines() if line.startswith("GPU ")]


def _stop_grace(spec: api_pb2.ContainerSpec) -> float:
    """Seconds between SIGTERM and SIGKILL for a container being stopped: one that mounts a
    writable volume commits it on its way out, and SIGKILL mid-commit loses the writes."""
    if spec.sandbox:  # the worker commits a sandbox's volumes itself, after it exited
        return STOP_GRACE
    mounts = json.loads(spec.env.get(config.ENV_VOLUMES, "") or "[]")
    return config.VOLUME_EXIT_GRACE if any(not m.get("read_only") for m in mounts) else STOP_GRACE


@dataclass
class RunningContainer:
    spec: api_pb2.ContainerSpec
    proc: asyncio.subprocess.Process
    cfg: ContainerConfig
    task: asyncio.Task[None] | None = None
    stop_requested: bool = False
    link: AgentLink | None = None  # where the container's agent dials in (a sandbox's at start; exec's later)
    relay: asyncio.Task[None] | None = None
    volumes: list[Mount] = field(default_factory=list)  # a sandbox's, synced by the worker
    buckets: list[BucketMount] = field(default_factory=list)  # CloudBucketMounts, copied by the worker


@dataclass
class Agent:
    client: Client
    runtime: Runtime
    block_network: bool = False  # for every container, whatever its spec says
    # `nano-modal worker --env`: every container's, under its spec's own (an image's ENV stands
    # under the function's env and secrets in Modal too).
    container_env: dict[str, str] = field(default_factory=dict)
    cpu: float = field(default_factory=lambda: float(os.cpu_count() or 1))
    memory_mb: int = field(default_factory=_memory_mb)
    worker_id: str = ""
    containers: dict[str, RunningContainer] = field(default_factory=dict)
    # Containers being started (an image may build for minutes) and, of those, the ones the
    # server has told to stop meanwhile: a stop for a container not yet in `containers` was
    # dropped, so a sandbox terminated while starting ran on and its waiters hung.
    starting: set[str] = field(default_factory=set)
    stop_once_started: set[str] = field(default_factory=set)
    log_buffer: list[api_pb2.LogLine] = field(default_factory=list)
    # Set by a sync mark (container/log_sync.py): a caller waits for those lines, ship them now.
    ship_now: asyncio.Event = field(default_factory=asyncio.Event)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    images: WorkerImages | None = None
    cpu_sampler: CpuSampler = field(default_factory=CpuSampler)

    def __post_init__(self) -> None:
        self.images = WorkerImages(self.client, lambda line: self.log_buffer.append(line))

    def _host_env(self) -> dict[str, str]:
        """What every container's environment starts from: the host's few passed-through
        variables and the worker's own `--env` settings."""
        return {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ} | self.container_env

    async def run(self) -> None:
        compiling = asyncio.create_task(asyncio.to_thread(precompile_sdk))  # while it registers
        self.background.add(compiling)
        compiling.add_done_callback(self.background.discard)
        await self.register()
        base_env = self._host_env() | {"PYTHONUNBUFFERED": "1"}
        self.runtime.server_fast_lane_port = self.client.stub.fast_lane_port
        await self.runtime.warm_up(base_env, self.client.server_url, self.block_network)
        shipper = asyncio.create_task(self._ship_logs_forever())
        try:
            await self._poll_forever()
        finally:
            shipper.cancel()
            running = list(self.containers.values())
            await asyncio.gather(
                *(self.runtime.stop(c.proc, _stop_grace(c.spec)) for c in running),
                self.runtime.close(),
                return_exceptions=True,
            )
            # Release what each container held (cgroup, relay socket, workdir) here: their
            # supervisors would first report to a server that may be gone already.
            for c in running:
                if c.task is not None:
                    c.task.cancel()
                with contextlib.suppress(Exception):
                    await self.runtime.finish(c.cfg, c.proc.returncode or -9)
                self.runtime.disks.remove(c.cfg.workdir)

    async def register(self) -> None:
        request = api_pb2.WorkerRegisterRequest(
            hostname=socket.gethostname(),
            cpu=self.cpu,
            memory_mb=self.memory_mb,
            runtimes=[self.runtime.name],
            worker_id=self.worker_id,
            gpus=_gpus(),
        )
        self.worker_id = (await self.client.stub.WorkerRegister(request, timeout=config.CONNECT_TIMEOUT)).worker_id
        log.info(
            "registered as %s (%.1f cpu, %d MiB, runtime %s)",
            self.worker_id,
            self.cpu,
            self.memory_mb,
            self.runtime.name,
        )

    async def _poll_forever(self) -> None:
        backoff = 0.1
        while True:
            request = api_pb2.WorkerPollRequest(
                worker_id=self.worker_id, running_container_ids=list(self.containers), timeout=POLL_TIMEOUT
            )
            measured = self.cpu_sampler.sample({cid: c.proc.pid for cid, c in self.containers.items()})
            if measured is not None:
                request.cpu_measured = True
                request.host_cpu_busy, demands = measured
                request.container_cpu_demand.update(demands)
            try:
                response = await self.client.stub.WorkerPoll(request, timeout=POLL_TIMEOUT + 5)
            except ConnectionError as exc:
                log.warning("server unreachable, retrying in %.1fs: %s", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            # A container may be told to start and to stop in one answer: it counts as starting first.
            self.starting.update(spec.container_id for spec in response.start)
            for container_id in response.stop_container_ids:
                running = self.containers.get(container_id)
                if running is not None:
                    self._stop(running)
                elif container_id in self.starting:
                    self.stop_once_started.add(container_id)
            for spec in response.start:
                # An image may build for minutes, a sandbox wait for the one booting ahead of need
                # (preboot.py): the poll loop goes on meanwhile.
                if spec.HasField("image") or spec.sandbox:
                    starting = asyncio.create_task(self._start(spec))
                    self.background.add(starting)
                    starting.add_done_callback(self.background.discard)
                else:
                    await self._start(spec)
            for container_id in response.attach_container_ids:
                await self._attach(container_id)
            if response.reregister:
                await self.register()

    def _stop(self, running: RunningContainer) -> None:
        running.stop_requested = True
        stopping = asyncio.create_task(self.runtime.stop(running.proc, _stop_grace(running.spec)))
        self.background.add(stopping)
        stopping.add_done_callback(self.background.discard)

    async def _start(self, spec: api_pb2.ContainerSpec) -> None:
        self.starting.add(spec.container_id)
        try:
            await self._launch(spec)
        finally:  # a start that failed must not leave its stop behind either
            self.starting.discard(spec.container_id)
            told_to_stop = spec.container_id in self.stop_once_started
            self.stop_once_started.discard(spec.container_id)
        if told_to_stop and (running := self.containers.get(spec.container_id)) is not None:
            self._stop(running)

    async def _launch(self, spec: api_pb2.ContainerSpec) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"nano-modal-{spec.container_id}-"))
        env = self._host_env()
        env.update(spec.env)
        env.update({"HOME": str(workdir), "PYTHONUNBUFFERED": "1", config.ENV_CONTAINER_ID: spec.container_id})
        env.update(config.modal_container_env(spec.container_id, spec.image.image_id))  # sandboxes' too
        if not spec.sandbox:  # a sandbox gets no credential and no address of the server at all
            env.update(
                {
                    config.ENV_IS_REMOTE: "1",
                    config.ENV_SERVER_URL: self.client.server_url,
                    config.ENV_TOKEN: spec.task_token,  # scoped to this container, never the admin token
                }
            )
        cfg = ContainerConfig(
            spec.container_id,
            env,
            workdir,
            cpu=spec.cpu,
            memory_mb=spec.memory_mb,
            disk_mb=spec.disk_mb,
            block_network=self.block_network or spec.env.get(config.ENV_BLOCK_NETWORK) == "1",
        )
        if allowlist := spec.env.get(config.ENV_OUTBOUND_ALLOWLIST):  # checked by the server: parses
            cfg.outbound_allowlist = parse_networks(allowlist.split(","))
        buckets = take_buckets(env, workdir)  # their credentials stay here, out of the container's env
        assert self.images is not None
        try:
            await self.images.prepare(spec, cfg, self.runtime.name)
        except Exception as exc:
            message = await self.images.report_failure(spec, exc)
            await self._flush_logs()
            await self._report_exit(spec.container_id, -1, message)
            self.runtime.disks.remove(workdir)
            return
        # Every container gets the agent's directory: a sandbox's agent dials in at once, a function
        # container starts one when someone execs into it (_attach).
        link = AgentLink()
        cfg.agent_dir = link.dir  # the runtime tells the container where: sandbox.own_view, ProcessRuntime
        volumes: list[Mount] = []
        spawned: asyncio.Future[asyncio.subprocess.Process] = asyncio.get_running_loop().create_future()
        sandbox_relay: asyncio.Task[None] | None = None
        try:
            if spec.sandbox:
                await link.start()
                cfg.python_args = AGENT_ARGS
                if cfg.command:  # the process runtime's image venv (images/venv.py): its Python runs the agent
                    cfg.command = [cfg.command[0], *AGENT_ARGS]
                # Its disk before its volumes are copied onto it (a function's are, inside it, later).
                # Without volumes the runtime attaches one if it starts the sandbox afresh; a booted
                # one (preboot.py) comes with its own.
                if env.get(config.ENV_VOLUMES):
                    await asyncio.to_thread(self.runtime.disks.attach, workdir, cfg.disk_mb)
                volumes = await sync_volumes(self.client, env, workdir, binds=await self.runtime.binds_volumes())
                # Its relay to the server opens while the container starts: a sandbox booted ahead of
                # need (preboot.py) is ready within a few ms, and its first output goes up this stream.
                sandbox_relay = self._open_relay(spec, cfg, link, volumes, spawned)
                await asyncio.sleep(0)  # the stream's first message leaves now, not after a booted start()
            if buckets:  # downloaded onto its disk, which must be there first
                await asyncio.to_thread(self.runtime.disks.attach, workdir, cfg.disk_mb)
            await download_buckets(buckets, link=not await self.runtime.binds_volumes())
            proc = await self.runtime.start(cfg)
        except Exception as exc:
            log.exception("could not start container %s", spec.container_id)
            if sandbox_relay is not None:
                sandbox_relay.cancel()
            await self._report_exit(spec.container_id, -1, start_failure(exc))
            self.runtime.disks.remove(workdir)
            link.close()
            return
        spawned.set_result(proc)
        if cfg.agent_dir is not None and cfg.agent_dir != link.dir:  # a container booted ahead of need
            booted = self.runtime.preboot.claim_link(spec.container_id) if self.runtime.preboot else None
            if booted is not None:  # a sandbox's, whose agent dialed in at boot
                link.adopt(booted)
            else:
                link.move_to(cfg.agent_dir)
        running = RunningContainer(spec, proc, cfg, link=link, relay=sandbox_relay, volumes=volumes, buckets=buckets)
        self.containers[spec.container_id] = running
        running.task = asyncio.create_task(self._supervise(running))

    def _open_relay(
        self,
        spec: api_pb2.ContainerSpec,
        cfg: ContainerConfig,
        link: AgentLink,
        volumes: list[Mount],
        spawned: asyncio.Future[asyncio.subprocess.Process],
    ) -> asyncio.Task[None]:
        """A sandbox's relay (sandbox_relay.py), with the builtins the worker runs for it."""
        assert self.images is not None
        snapshot = functools.partial(self.images.snapshot, cfg)
        reload = functools.partial(reload_volumes, self.client, volumes)
        live = self.images.live_builtins(self.runtime, spawned, cfg, link.connected)
        return asyncio.create_task(
            relay(self.client, spec.container_id, link, snapshot=snapshot, reload=reload, live=live)
        )

    async def _attach(self, container_id: str) -> None:
        """Start the agent inside a running function container (SIGUSR2 to its entrypoint) and relay
        for it, as for a sandbox: `nano-modal container exec` into a function's container."""
        running = self.containers.get(container_id)
        if running is None or running.link is None or (running.relay is not None and not running.relay.done()):
            return
        await running.link.start()
        running.relay = asyncio.create_task(relay(self.client, container_id, running.link, ATTACH_TIMEOUT))
        await self.runtime.signal_entrypoint(running.proc, running.cfg, signal.SIGUSR2)

    async def _supervise(self, running: RunningContainer) -> None:
        spec = running.spec
        assert running.proc.stdout is not None and running.proc.stderr is not None
        await asyncio.gather(
            self._pump(running.proc.stdout, spec.container_id, 1),
            self._pump(running.proc.stderr, spec.container_id, 2),
        )
        code = await running.proc.wait()
        await self._flush_logs()
        if running.relay is not None:  # let the agent's last words (exit codes) reach the server
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(running.relay), 2.0)
            running.relay.cancel()
        if running.link is not None:
            running.link.close()
        await commit_volumes(self.client, running.volumes)
        if self.images is not None:  # before the runtime releases its uid range (the mounts' idmap)
            await self.images.forget(spec.container_id)
        bucket_failure = await upload_buckets(spec.container_id, running.buckets)
        try:
            cause = await self.runtime.finish(running.cfg, code)  # e.g. "out of memory: limit 64 MiB"
        except Exception:
            log.exception("cleaning up container %s failed", spec.container_id)
            cause = ""
        reason = "stopped by the server" if running.stop_requested else cause
        if code == config.EXIT_VOLUME_COMMIT_FAILED and not spec.sandbox:
            reason = "its volume commit on exit failed: its changes are lost (its log says why)"
            log.error("container %s: %s", spec.container_id, reason)
        if code < 0 and not reason:
            reason = f"killed by signal {-code}"
        if bucket_failure:
            reason = f"{reason}; {bucket_failure}" if reason else bucket_failure
        await self._report_exit(spec.container_id, code, reason)
        self.containers.pop(spec.container_id, None)
        self.runtime.disks.remove(running.cfg.workdir)

    async def _report_exit(self, container_id: str, code: int, reason: str) -> None:
        request = api_pb2.WorkerContainerExitedRequest(
            worker_id=self.worker_id, container_id=container_id, exit_code=code, reason=reason
        )
        for _ in range(30):
            try:
                await self.client.stub.WorkerContainerExited(request, timeout=5)
                return
            except ConnectionError:
                await asyncio.sleep(1)

    async def _pump(self, stream: asyncio.StreamReader, container_id: str, fd: int) -> None:
        call_id = ""  # whose lines these are, as the stream's last context mark said
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the stream's buffer: ship it in pieces
                line = await stream.read(LOG_LINE_MAX)
            if not line:
                return
            text = line.decode(errors="replace")
            # A context mark (container/log_sync.py) ends the line and names the call of the next.
            text, context, named = text.partition(config.LOG_CONTEXT_MARK)
            # A sync mark ends the line too: what precedes either mark is a partial print.
            text, mark, input_id = text.partition(config.LOG_SYNC_MARK)
            if text:
                self.log_buffer.append(
                    api_pb2.LogLine(container_id=container_id, fd=fd, data=text, timestamp=time.time(), call_id=call_id)
                )
            if context:
                call_id = named.strip()[:LOG_CALL_ID_MAX]
            if mark:
                sync = api_pb2.LogLine(container_id=container_id, fd=config.LOG_SYNC_FD, data=input_id.strip())
                self.log_buffer.append(sync)
                self.ship_now.set()

    async def _ship_logs_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ship_now.wait(), LOG_FLUSH_INTERVAL)
            self.ship_now.clear()
            await self._flush_logs()

    async def _flush_logs(self) -> None:
        while self.log_buffer:
            batch, self.log_buffer = self.log_buffer[:LOG_BATCH_MAX], self.log_buffer[LOG_BATCH_MAX:]
            try:
                await self.client.stub.WorkerLogs(
                    api_pb2.WorkerLogsRequest(worker_id=self.worker_id, lines=batch), timeout=10
                )
            except ConnectionError:
                log.warning("dropped %d log lines: server unreachable", len(batch))
