"""The worker's side of a sandbox: the socket its agent dials, and the relay to the server.

The worker listens on a Unix socket in a fresh directory bound into the container; the
agent (container/sandbox_agent.py) connects once, at start, and the socket is unlinked at
once, so nothing else in the sandbox can reach the worker through it. The worker then
holds one bidirectional `SandboxRelay` stream to the server for the sandbox and copies
messages both ways: exec starts, stdin and kills down; output and exit codes up.

Volumes: a sandbox has no credential to sync them itself, so the worker does, with its own:
into the directories the runtime binds at the mount paths before the sandbox starts (a
symlink on the `process` runtime, as function containers make), committed when it exits.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from .. import config
from .._volume_sync import Mount, _link, commit_mount, reload_mount, runtime_binds
from ..client import Client
from ..container.sandbox_agent import (
    ASSIGNMENT_ENV,
    BOOTED_PYTHON_ARGS,
    DOWN_DEFAULTS,
    LENGTH_BYTES,
    MAX_DATA,
    MAX_HEADER,
    PYTHON_ARGS,
    SOCKET_ENV,
    encode_down,
    lengths,
)
from ..proto import api_pb2

log = logging.getLogger("nano_modal.worker")

AGENT_SOCKET_ENV = SOCKET_ENV
# How a sandbox's container starts: its Python, isolated (no site, no PYTHONPATH), the agent.
AGENT_ARGS = PYTHON_ARGS
BOOTED_AGENT_ARGS = BOOTED_PYTHON_ARGS  # ... and one booted ahead of need (worker/preboot.py)
AGENT_SOCKET = "agent.sock"
SOCKET_MODE = 0o600  # the worker's sockets: its own user's, or its container root's (uid_ranges.py), only
SNAPSHOT = "snapshot"  # builtins the worker runs itself: Sandbox.snapshot_filesystem,
RELOAD_VOLUMES = "reload_volumes"  # ... Sandbox.reload_volumes (the worker syncs a sandbox's volumes),
# ... and those that reach into the running sandbox from outside (images/live_mounts.py).
LIVE_BUILTINS = ("snapshot_directory", "mount_image", "unmount_image")
WORKER_BUILTINS = (SNAPSHOT, RELOAD_VOLUMES, *LIVE_BUILTINS)
AGENT_CONNECT_TIMEOUT = 60.0  # seconds a sandbox's agent has to start and dial in
ATTACH_TIMEOUT = 10.0  # ... and one a running function container starts for an exec
KEEPALIVE_INTERVAL = 5.0  # the server counts relay traffic as the sandbox's heartbeat


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes] | None:
    """One message from an agent (container/sandbox_agent.py's framing): its fields, its bytes."""
    try:
        header_len, data_len = lengths(await reader.readexactly(2 * LENGTH_BYTES))
        if header_len > MAX_HEADER or data_len > MAX_DATA:
            return None
        header = json.loads(await reader.readexactly(header_len))
        return (header, await reader.readexactly(data_len)) if isinstance(header, dict) else None
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        return None


async def listen_unix(
    path: Path, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
) -> asyncio.AbstractServer:
    """Listen on a Unix socket at `path` that is born with mode 0600 (its fd's mode, set before
    bind(), is the file's). Never chmod it by name afterwards: its directory is the container's
    to write, and a container could put a symlink there first, making the root worker chmod
    whatever host file it points to."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.fchmod(sock.fileno(), SOCKET_MODE)
        owner = os.stat(path.parent).st_uid
        if owner == os.geteuid():
            sock.bind(str(path))
        else:  # a container's own directory (uid_ranges.py): the socket is its root's, 0600 too
            _bind_as(sock, path, owner)
    except OSError:
        sock.close()
        raise
    return await asyncio.start_unix_server(handler, sock=sock)


def _bind_as(sock: socket.socket, path: Path, owner: int) -> None:
    """Bind `sock` at `path` as a file of `owner`'s: bound and chowned in a directory of the
    worker's that no container reaches, then renamed into place (a rename replaces whatever the
    container may have put at `path`, a symlink included, and follows nothing)."""
    staging = Path(tempfile.mkdtemp(prefix="nano-modal-socket-", dir=path.parent.parent))  # same filesystem
    try:
        sock.bind(str(staging / path.name))
        os.chown(staging / path.name, owner, owner, follow_symlinks=False)
        os.rename(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class AgentLink:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nano-modal-agent-"))
        self.server: asyncio.AbstractServer | None = None
        self.connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )

    @property
    def socket(self) -> Path:
        return self.dir / AGENT_SOCKET

    def move_to(self, directory: Path) -> None:
        """Listen in `directory` instead (the one a container booted ahead of need sees), before start()."""
        assert self.server is None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = directory

    def adopt(self, booted: AgentLink) -> None:
        """Take over the link of a sandbox booted ahead of need (preboot.py), whose agent has
        dialed in already: this one stops listening and serves that agent's connection."""
        self._stop_listening()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = booted.dir
        self.connected.set_result(booted.connected.result())

    async def assign(self, env: dict[str, str]) -> None:
        """Hand the booted agent on this link its sandbox: the environment it runs commands with."""
        _, writer = self.connected.result()
        writer.write(encode_down({ASSIGNMENT_ENV: env}))
        await writer.drain()

    async def start(self) -> None:
        self.server = await listen_unix(self.socket, self._accept)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connected.done():  # only the agent, once
            writer.close()
            return
        self.connected.set_result((reader, writer))
        self._stop_listening()

    def _stop_listening(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.socket.unlink(missing_ok=True)

    def close(self) -> None:
        self._stop_listening()
        if self.connected.done() and not self.connected.cancelled():
            self.connected.result()[1].close()
        else:
            self.connected.cancel()
        shutil.rmtree(self.dir, ignore_errors=True)


async def relay(
    client: Client,
    sandbox_id: str,
    link: AgentLink,
    connect_timeout: float = AGENT_CONNECT_TIMEOUT,
    snapshot: Callable[[], Awaitable[str]] | None = None,
    reload: Callable[[], Awaitable[str]] | None = None,
    live: Mapping[str, Callable[[list[str]], Awaitable[str]]] | None = None,
) -> None:
    """Copy messages between the sandbox's agent and the server until either side ends. The
    `snapshot` builtin is the worker's own to run (the agent cannot see its root from outside).

    The stream to the server opens at once, while the agent is still starting: both are on
    every sandbox's path to its first output. What comes down before the agent has dialed in
    waits for it; if it never does, the stream says so (`error`) and the server fails what it sent."""
    up: asyncio.Queue[api_pb2.SandboxRelayUp | None] = asyncio.Queue()
    agent = asyncio.create_task(asyncio.wait_for(asyncio.shield(link.connected), connect_timeout))

    async def from_agent() -> None:
        try:
            reader, _ = await agent
        except TimeoutError:  # e.g. a function that took SIGUSR2 for itself: say so, do not leave execs hanging
            log.warning("sandbox %s: its agent did not connect within %.0f s", sandbox_id, connect_timeout)
            link._stop_listening()
            up.put_nowait(api_pb2.SandboxRelayUp(error=f"the agent did not start in {connect_timeout:.0f} s"))
            up.put_nowait(None)
            return
        while (frame := await read_frame(reader)) is not None:
            fields, data = frame
            try:
                up.put_nowait(api_pb2.SandboxRelayUp(**fields, data=data))
            except (ValueError, TypeError):  # not what an agent sends: end the stream
                log.warning("sandbox %s: malformed message from its agent; relay closed", sandbox_id)
                break
        up.put_nowait(None)

    async def keepalive() -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            up.put_nowait(api_pb2.SandboxRelayUp(keepalive=True))

    async def requests() -> AsyncIterator[api_pb2.SandboxRelayUp]:
        yield api_pb2.SandboxRelayUp(sandbox_id=sandbox_id)
        while (message := await up.get()) is not None:
            yield message

    tasks = [asyncio.create_task(from_agent()), asyncio.create_task(keepalive())]
    try:
        async for down in client.stub.bidi("SandboxRelay", requests()):
            if down.builtin in WORKER_BUILTINS:
                action = _action(down, snapshot, reload, live or {})
                tasks.append(asyncio.create_task(_worker_builtin(down.exec_id, down.builtin, action, up, down.timeout)))
                continue
            try:
                _, writer = await agent
            except TimeoutError:  # from_agent() tells the server
                continue
            fields = {name: getattr(down, name) for name in DOWN_DEFAULTS}
            fields.update(argv=list(down.argv), env=dict(down.env))
            writer.write(encode_down(fields, down.stdin))
            await writer.drain()
    except (ConnectionError, OSError) as exc:
        log.warning("sandbox %s: relay ended: %s", sandbox_id, exc)
    finally:
        for task in tasks:
            task.cancel()
        if agent.done() and not agent.cancelled() and agent.exception() is None:
            agent.result()[1].close()
        agent.cancel()


def _action(
    down: api_pb2.SandboxRelayDown,
    snapshot: Callable[[], Awaitable[str]] | None,
    reload: Callable[[], Awaitable[str]] | None,
    live: Mapping[str, Callable[[list[str]], Awaitable[str]]],
) -> Callable[[], Awaitable[str]] | None:
    """The worker's action for the builtin `down` asks for, if this container has it."""
    if down.builtin == SNAPSHOT:
        return snapshot
    if down.builtin == RELOAD_VOLUMES:
        return reload
    act = live.get(down.builtin)
    return None if act is None else functools.partial(act, list(down.argv))


async def _worker_builtin(
    exec_id: str,
    builtin: str,
    action: Callable[[], Awaitable[str]] | None,
    up: asyncio.Queue[api_pb2.SandboxRelayUp | None],
    timeout: float = 0.0,
) -> None:
    """Answer a builtin the worker runs as a command would: its answer (a snapshot's image id) on
    stdout, or an error on stderr. Past `timeout` seconds (if set) the answer is that it timed out."""
    try:
        if action is None:
            raise RuntimeError(f"this container cannot {builtin}: it is not a sandbox (in an image, for snapshots)")
        try:
            answer = await asyncio.wait_for(action(), timeout or None)
        except TimeoutError:
            raise RuntimeError(f"{builtin} did not finish within {timeout:g} s") from None
        fd, data, code = 1, answer.encode(), 0
    except Exception as exc:
        log.warning("%s of %s failed: %s", builtin, exec_id, exc)
        fd, data, code = 2, str(exc).encode(), 1
    up.put_nowait(api_pb2.SandboxRelayUp(exec_id=exec_id, fd=fd, data=data))
    for closed in (1, 2):
        up.put_nowait(api_pb2.SandboxRelayUp(exec_id=exec_id, fd=closed, eof=True))
    up.put_nowait(api_pb2.SandboxRelayUp(exec_id=exec_id, exited=True, exit_code=code))


async def sync_volumes(client: Client, env: dict[str, str], workdir: Path, binds: bool) -> list[Mount]:
    """Download every volume of the sandbox's spec where its runtime will show it."""
    specs = json.loads(env.get(config.ENV_VOLUMES, "") or "[]")
    places = [host_dir for host_dir, _ in runtime_binds(env, workdir)[0]]
    mounts = []
    for i, spec in enumerate(specs):
        directory = places[i]
        if not binds:  # the process runtime: the mount path links to the directory
            _link(Path(spec["path"]), directory)
        state = workdir / ".nano-modal-volumes" / f"{i}.state"
        mount = Mount(spec["path"], spec["volume_id"], spec["read_only"], directory, state, state.with_suffix(".lock"))
        await reload_mount(client, mount)
        mounts.append(mount)
    return mounts


async def reload_volumes(client: Client, mounts: list[Mount]) -> str:
    """Sandbox.reload_volumes: bring each volume's directory up to its latest committed version."""
    for mount in mounts:
        await reload_mount(client, mount)
    return ""


async def commit_volumes(client: Client, mounts: list[Mount]) -> None:
    """When the sandbox has exited: commit what it changed in its writable volumes."""
    for mount in mounts:
        if not mount.read_only:
            try:
                await commit_mount(client, mount)
            except Exception:
                log.exception("could not commit the volume at %s", mount.path)
