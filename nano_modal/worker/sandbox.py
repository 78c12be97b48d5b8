"""What the sandboxing runtimes (bwrap, gvisor) share: the host pieces a container sees,
and the Unix-socket link to the server for containers without a network.

A container sees a read-only allowlist of the host: the system's programs and libraries,
a handful of non-secret files from /etc, the worker's Python installation and the SDK.
Nothing else: not /root, not /home, not the server's state directory, not /etc/shadow.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .. import config
from .._fast_lane import UNIX_SOCKET_NAME as FAST_LANE_SOCKET
from .._volume_sync import runtime_binds
from . import kernel_nat
from .address_watch import AddressWatch
from .base import SDK_ROOT, ContainerConfig, Runtime, sdk_env, worker_user_site
from .network import IPNetwork, NetworkPolicy, OutboundNat, nameservers, resolv_conf, slirp_binary
from .sandbox_relay import AGENT_SOCKET, AGENT_SOCKET_ENV, listen_unix
from .uid_ranges import ContainerUids, UidRanges, chown_tree

log = logging.getLogger("nano_modal.worker")

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Only what programs need to run, resolve names and verify TLS; never shadow, gshadow,
# sudoers, ssh host keys or ssl/private.
_ETC = """
passwd group hosts resolv.conf nsswitch.conf host.conf gai.conf protocols services networks
ld.so.cache ld.so.conf ld.so.conf.d localtime timezone os-release debian_version alternatives
ssl/certs ssl/openssl.cnf ca-certificates ca-certificates.conf mime.types inputrc locale.alias
"""
ETC_ALLOWLIST = _ETC.split()
ETC_LIVE = ("resolv.conf", "hosts")  # rewritten while the host runs: bound, not copied
CA_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
ENV_TMP_MB = "NANO_MODAL_CONTAINER_TMP_MB"
# MiB a container's private /tmp (a tmpfs: memory) may hold. Unbounded, one container's
# writes there took the host's RAM; 1 GiB is what a scratch directory needs, and a function
# that needs more writes to its workdir or a volume, or the worker is started with more.
TMP_MB = int(os.environ.get(ENV_TMP_MB) or 1024)
RPC_DIR = "/run/nano-modal"  # where the server's socket appears inside a container
RPC_SOCKET = "server.sock"
AGENT_DIR = "/run/nano-modal-agent"  # where a sandbox's agent finds its worker's socket


@dataclass(frozen=True)
class Mount:
    source: str
    dest: str
    writable: bool = False


@dataclass(frozen=True)
class Symlink:
    target: str
    dest: str


def _covered(path: str, dirs: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


@cache
def host_view() -> tuple[tuple[Mount | Symlink, ...], str]:
    """The read-only host pieces every sandboxed container gets, and the Python to run."""
    items: list[Mount | Symlink] = []
    bound: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):  # merged /usr: /lib -> usr/lib
            items.append(Symlink(os.readlink(d), d))
        elif os.path.isdir(d):
            items.append(Mount(d, d))
            bound.append(d)
    items.append(Mount(str(_etc_copy()), "/etc"))
    live = [f"/etc/{name}" for name in ETC_LIVE if os.path.exists(f"/etc/{name}")]
    items += [Mount(os.path.realpath(path), path) for path in live]
    bound.append("/etc")
    # The interpreter by the path it was started with, never resolved: a venv's `bin/python` is a
    # symlink to its base, and Python finds the venv (its pyvenv.cfg, its site-packages) only
    # through the unresolved path. Resolved, the container loses every package of the venv.
    python = sys.executable
    # The interpreter's installation (a venv's and its base's), wherever it lives (e.g. under /root).
    real = os.path.realpath(python)
    extra = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(real).parent.parent)}
    extra.add(os.path.join(SDK_ROOT, "nano_modal"))  # an editable checkout; inside a prefix otherwise
    if (user_site := worker_user_site()) is not None:  # `pip install --user`: its packages too
        extra.add(user_site)
    extra.update(p for p in (os.environ.get(k) for k in CA_ENV) if p)
    for path in sorted({os.path.realpath(p) for p in extra}, key=len):
        if os.path.exists(path) and not _covered(path, bound):
            items.append(Mount(path, path))
            bound.append(path)
    return tuple(items), python


def _etc_copy() -> Path:
    """A copy of the allowlisted /etc, made once: one mount instead of one per file (each
    costs bwrap time at every start). Files that change while the host runs are bound live."""
    # In memory where there is /dev/shm: ~700 symlinks (ssl/certs, alternatives) took 0.35-0.7 s
    # on the ext4 /tmp measured (0.85 ms a symlink, 7 us on tmpfs), at every worker start.
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    etc = Path(tempfile.mkdtemp(prefix="nano-modal-etc-", dir=shm))
    atexit.register(shutil.rmtree, etc, True)
    for name in ETC_ALLOWLIST:
        source, target = Path("/etc") / name, etc / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # absent here, or unreadable: the container does without
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)  # links point into /usr, which is bound
            elif source.exists():
                shutil.copy2(source, target)
    etc.chmod(0o755)
    return etc


class ServerLink:
    """A Unix socket the worker relays to the server's TCP address: a container's only way to it.

    gRPC dials `unix:` targets natively, so the container speaks to the server as usual, yet
    its network namespace has no route to the host (the server listens on the host's loopback).
    """

    def __init__(self, server_url: str, fast_lane_port: int = 0) -> None:
        self.host, _, port = server_url.rpartition(":")
        self.host = self.host.strip("[]")
        self.port = int(port)
        # The server's fast lane (its port as the worker's own Hello reported it; 0: none),
        # relayed beside the gRPC socket: without it a container's warm calls take gRPC, ~1 ms more.
        self.fast_lane_port = fast_lane_port
        self.dir = Path(tempfile.mkdtemp(prefix="nano-modal-rpc-"))
        self.servers: list[asyncio.AbstractServer] = []
        self.streams: set[asyncio.StreamWriter] = set()

    @property
    def socket(self) -> Path:
        return self.dir / RPC_SOCKET

    async def start(self) -> None:
        self.servers.append(await listen_unix(self.socket, lambda r, w: self._relay(r, w, self.port)))
        if self.fast_lane_port:
            path = self.dir / FAST_LANE_SOCKET
            self.servers.append(await listen_unix(path, lambda r, w: self._relay(r, w, self.fast_lane_port)))

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for writer in list(self.streams):
            writer.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, port)
        except OSError as exc:
            log.warning("relay to the server at %s:%d failed: %s", self.host, port, exc)
            writer.close()
            return
        self.streams.update((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self.streams.difference_update((writer, up_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


def container_server_url() -> str:
    return f"unix:{RPC_DIR}/{RPC_SOCKET}"


def own_view(cfg: ContainerConfig, link: ServerLink | None) -> tuple[list[Mount], dict[str, str]]:
    """The container's writable binds (its workdir, a directory per volume mount) and its
    environment: the SDK on its path, the server through `link` if given, the volumes' places."""
    volumes, volume_env = runtime_binds(cfg.env, cfg.workdir)
    env = {**cfg.env, **volume_env, **sdk_env(cfg.env)}
    if link is not None:
        env[config.ENV_SERVER_URL] = container_server_url()
    binds = [Mount(str(cfg.workdir), str(cfg.workdir), writable=True)]
    binds += [Mount(str(host_dir), path, writable=True) for host_dir, path in volumes]
    if cfg.agent_dir is not None:
        binds.append(Mount(str(cfg.agent_dir), AGENT_DIR, writable=True))
        env[AGENT_SOCKET_ENV] = f"{AGENT_DIR}/{AGENT_SOCKET}"
    return binds, env


class SandboxingRuntime(Runtime):
    """What bwrap and gvisor share: the host view above, a ServerLink per container (each has a
    network namespace of its own: the relay is its only way to the server), and the outbound
    NAT of those that did not ask for block_network (network.py)."""

    confines_writes = True  # a container writes only to its workdir, its image's upper dir, its /tmp

    def __init__(self, *, allow_net: tuple[IPNetwork, ...] = (), **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._links: dict[str, ServerLink] = {}
        self._nats: dict[str, tuple[OutboundNat, asyncio.Future[None]]] = {}
        # The address watch's generation when a bwrap container's denial was listed (before it):
        # unchanged at hand-over, its routes stand and need no refresh (before_hand_over).
        self._denied_at: dict[str, int] = {}
        self.policy = NetworkPolicy(allow_net)
        self._address_watch = AddressWatch(self._deny_again, self.policy.needs_own_denial)
        self._warned_no_slirp = False
        # Under a root worker where the runtime can use them: each container's uids are a host
        # range of its own (uid_ranges.py); set by the runtime.
        self.uid_ranges: UidRanges | None = None
        self._uids: dict[str, ContainerUids] = {}

    def outbound(self, cfg: ContainerConfig) -> bool:
        """Whether the container gets outbound NAT: unless it blocks the network, where the kernel's
        (kernel_nat.py) or slirp4netns is."""
        if cfg.block_network:
            return False
        if self.nat_kernel() is None and slirp_binary() is None:
            if not self._warned_no_slirp:
                log.warning(
                    "slirp4netns is not installed: containers get no outbound network (apt-get install slirp4netns)"
                )
                self._warned_no_slirp = True
            return False
        return True

    def nat_kernel(self) -> kernel_nat.KernelNat | None:
        """The worker's kernel NAT; None: slirp4netns (kernel_nat.shared() says which, once)."""
        return kernel_nat.shared()

    def resolv_conf(self) -> str:
        """The resolv.conf of containers with outbound NAT: the resolver their NAT reaches."""
        return resolv_conf(nameservers(self.nat_kernel()))

    async def _open_link(self, cfg: ContainerConfig) -> ServerLink | None:
        if config.ENV_SERVER_URL not in cfg.env:  # a sandbox has no server to reach
            return None
        link = ServerLink(cfg.env[config.ENV_SERVER_URL], self.server_fast_lane_port)
        await link.start()
        self._links[cfg.container_id] = link
        return link

    def _start_nat(self, cfg: ContainerConfig, pid: int) -> None:
        """Outbound NAT for the container whose network namespace process `pid` is in, set up
        while the container starts (it does not wait: see network.py)."""
        policy = self.policy.narrowed(cfg.outbound_allowlist) if cfg.outbound_allowlist else self.policy
        nat = OutboundNat(policy, self.nat_kernel())
        self._denied_at[cfg.container_id] = self._address_watch.generation  # read before start() lists

        async def start() -> None:
            try:
                await nat.start(pid)
            except (OSError, RuntimeError, TimeoutError) as exc:
                if os.path.exists(f"/proc/{pid}"):  # (not when the container is already gone)
                    log.warning("container %s has no outbound network: %s", cfg.container_id, exc)

        self._nats[cfg.container_id] = (nat, asyncio.create_task(start()))

    def container_env(self, cfg: ContainerConfig, runtime_id: str = "") -> dict[str, str]:
        env = own_view(cfg, self._links.get(runtime_id or cfg.container_id))[1]
        return cfg.image.env(env) if cfg.image is not None else env

    async def before_hand_over(self, container_id: str) -> None:
        """Its network's denial as it stands now: the host may have gained an address since the
        container was booted (its routes were listed then), and it must not reach that one either."""
        found = self._nats.get(container_id)
        if found is None:
            return
        nat, started = found
        await started  # (set up in the background at boot; long done by now, as a rule)
        denied_at = self._denied_at.get(container_id)
        if denied_at is not None and self._address_watch.unchanged_since(denied_at):
            return  # no address gained since its routes were made: they deny all there is to deny
        await nat.refresh()

    async def _own_uids(self, cfg: ContainerConfig, link: ServerLink | None) -> ContainerUids | None:
        """Under a root worker: a uid range for the container, and what it writes (its workdir with
        the volumes synced there, its agent directory) and dials (the server link) made its root's."""
        if self.uid_ranges is None:
            return None
        uids = self._uids[cfg.container_id] = ContainerUids(await self.uid_ranges.claim())
        uid = uids.range.uid
        for directory in (cfg.workdir, cfg.agent_dir, link.dir if link else None):
            if directory is not None:  # (a socket made there later is its owner's: sandbox_relay.listen_unix)
                await asyncio.to_thread(chown_tree, directory, uid)
        return uids

    def _release_uids(self, cfg: ContainerConfig) -> None:
        """The container's range back to the pool (after its image: its layers are idmapped by it)."""
        uids = self._uids.pop(cfg.container_id, None)
        if uids is not None and self.uid_ranges is not None:
            uids.close()
            self.uid_ranges.release(uids.range)

    async def warm_up(self, base_env: dict[str, str], server_url: str, block_network: bool) -> None:
        await super().warm_up(base_env, server_url, block_network)
        if not block_network:  # (with --block-network no container has a route anywhere)
            self._address_watch.start()

    async def _deny_again(self) -> None:
        """The host gained an address (address_watch.py): every running container's denial as it
        stands now. gVisor's routes are its copy, made at its start: those on slirp4netns are told
        of (under kernel NAT the host's table refuses the address to every container already)."""
        unchanged, refreshed = 0, 0
        for container_id, (nat, started) in list(self._nats.items()):
            await started  # bwrap's routes are laid down in the background at start
            if not nat.netns and nat.slot is None:  # gVisor's on slirp4netns (kernel NAT's table denies it live)
                unchanged += 1
                continue
            try:
                await nat.refresh()
                refreshed += 1
            except (OSError, RuntimeError) as exc:  # (it ended meanwhile, as a rule)
                log.debug("container %s: its routes were not refreshed: %s", container_id, exc)
        if refreshed:
            log.info("the host gained an address: denied to %d running container(s)", refreshed)
        if unchanged:
            log.warning(
                "the host gained an address: %d running gVisor container(s) can reach it until they end"
                " (their routes are gVisor's copy, made at their start)",
                unchanged,
            )

    async def close(self) -> None:
        self._address_watch.close()
        await super().close()
        if self.uid_ranges is not None:
            self.uid_ranges.close()

    def rekey(self, old_id: str, new_id: str) -> None:
        super().rekey(old_id, new_id)
        if old_id in self._uids:
            self._uids[new_id] = self._uids.pop(old_id)
        if old_id in self._links:
            self._links[new_id] = self._links.pop(old_id)
        if old_id in self._nats:
            self._nats[new_id] = self._nats.pop(old_id)
        if old_id in self._denied_at:
            self._denied_at[new_id] = self._denied_at.pop(old_id)

    async def finish(self, cfg: ContainerConfig, code: int) -> str:
        reason = await super().finish(cfg, code)
        link = self._links.pop(cfg.container_id, None)
        if link is not None:
            await link.close()
        self._denied_at.pop(cfg.container_id, None)
        nat, task = self._nats.pop(cfg.container_id, (None, None))
        if nat is not None and task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await nat.close()
        return reason
