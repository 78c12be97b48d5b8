"""The `gvisor` runtime: each container in its own gVisor sandbox (runsc), for untrusted code.

gVisor answers the container's system calls with a kernel of its own written in Go, so a
kernel bug reachable from the container does not reach the host's. runsc runs in OCI
bundle mode with the ptrace platform (kvm hangs on the machines measured), a config.json
per container with the same host view as bwrap (sandbox.py), and the worker's cgroup
around the whole sandbox. Every runsc command other than the container's own `run` is
bounded by a timeout.

Network: a container without block_network gets gVisor's own network stack
(`--network=sandbox`) on a namespace the worker prepared as bwrap's are: outbound NAT (kernel_nat.py,
else slirp4netns), the denied networks routed to a dead end (network.py). That needs a runsc of
runsc.SANDBOX_NETWORK_SINCE or later; with an older one, and for block_network, the sandbox
has `--network=none`. The server comes through the relay either way (sandbox.ServerLink).

Uids: under a root worker (runsc.UID_MAPPINGS_SINCE or later), each container's ids are a host
range of its own as under bwrap (uid_ranges.py), given to runsc as the spec's id mappings: its
gofer, which makes the container's file operations on the host, works as that range's root,
and container root keeps bwrap's capability set (uid_ranges.CAPABILITIES): chown, useradd, su.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import runsc as runsc_build
from . import seccomp, uid_ranges
from .base import ContainerConfig
from .gvisor_network import SpareNetworks
from .sandbox import RPC_DIR, TMP_MB, Mount, SandboxingRuntime, ServerLink, host_view, own_view
from .uid_ranges import UIDS_PER_CONTAINER, ContainerUids, UidRanges

log = logging.getLogger("nano_modal.worker")

RUNSC_TIMEOUT = 10.0  # seconds for runsc kill/delete: a wedged sandbox must not wedge the worker
NAMESPACES = ("pid", "ipc", "uts", "mount", "network")
# The OCI spec cannot say "flags & mask != 0" in one rule: one rule per CLONE_NEW* bit.
_CLONE_NEW_BITS = [1 << i for i in range(32) if seccomp.CLONE_NEW_MASK & (1 << i)]


def runsc_binary() -> str | None:
    return runsc_build.binary()


def _id_mappings(first: int) -> dict[str, list[dict[str, int]]]:
    """Container ids 0..65535 as the host range from `first`, as under bwrap (uid_ranges.py)."""
    mapping = [{"containerID": 0, "hostID": first, "size": UIDS_PER_CONTAINER}]
    return {"uidMappings": mapping, "gidMappings": mapping}


def _make_mount_points(rootfs: Path, mounts: list[dict[str, Any]]) -> None:
    """Each mount's destination in `rootfs` (the worker's, for containers without an image),
    unless a bind holds it: a file for a file's bind, else a directory. (The gofer makes its
    binds' mount points in the root as it sees it, under gVisor's own tmpfs mounts too.)"""
    binds = {m["destination"] for m in mounts if m["type"] == "bind"}
    for mount in mounts:
        dest = mount["destination"]
        if any(dest.startswith(other.rstrip("/") + "/") for other in binds):
            continue  # made inside that bind's source, which the container's root may write or holds it
        target = rootfs / dest.lstrip("/")
        if target.is_symlink() or target.exists():
            continue
        if mount["type"] == "bind" and not os.path.isdir(mount["source"]):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        else:
            target.mkdir(parents=True, exist_ok=True)


class GVisorRuntime(SandboxingRuntime):
    name = "gvisor"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.runsc = runsc_binary()
        self.base = Path(tempfile.mkdtemp(prefix="nano-modal-gvisor-"))
        self.state = self.base / "state"  # runsc --root: its record of sandboxes
        self.rootfs = self.base / "rootfs"  # empty and read-only: everything comes from mounts
        self.rootfs.mkdir(parents=True)
        atexit.register(shutil.rmtree, self.base, True)
        self._ids: dict[int, str] = {}  # runsc's pid -> its sandbox id, for stop()
        self._sandbox_ids: dict[str, str] = {}  # container id -> sandbox id (another for a booted one)
        self._netns: dict[str, int] = {}  # container id -> the descriptor holding its network namespace
        self.sandbox_network = self.runsc is not None and runsc_build.sandbox_network(self.runsc)
        if self.runsc is not None and not self.sandbox_network:
            log.warning(
                "runsc %s is older than %d: gVisor containers get no outbound network "
                "(scripts/test.sh installs a newer one)",
                runsc_build.version(self.runsc), runsc_build.SANDBOX_NETWORK_SINCE,
            )  # fmt: skip
        self._networks = SpareNetworks(self.policy, self.nat_kernel) if self.sandbox_network else None
        if self.runsc is not None and runsc_build.uid_mappings(self.runsc) and uid_ranges.available():
            self.uid_ranges = UidRanges()
        view, _ = host_view()
        for item in view:
            if not isinstance(item, Mount):  # OCI mounts cannot make symlinks; the root can hold them
                (self.rootfs / item.dest.lstrip("/")).symlink_to(item.target)

    def outbound(self, cfg: ContainerConfig) -> bool:
        return self.sandbox_network and super().outbound(cfg)

    def _runsc(self, cfg: ContainerConfig | None = None, networked: bool = False) -> list[str]:
        assert self.runsc is not None
        if cfg is None:  # enough for kill and delete
            return [self.runsc, "--root", str(self.state)]
        # Never the host's network: a namespace of its own (network.py) or none; the server
        # comes through the relay (sandbox.ServerLink).
        network = "--network=sandbox" if networked else "--network=none"
        args = [self.runsc, "--root", str(self.state), "--platform=ptrace", network]
        args += ["--ignore-cgroups", "--oci-seccomp"]  # the worker's cgroup wraps the whole sandbox
        args.append("--host-uds=open")  # lets the container dial the worker's relay or agent socket
        # Writes to an image's root go to its overlay on the host (what snapshot_filesystem copies),
        # not to a sandbox-internal one: runsc since 2023 defaults to --overlay2=root:self.
        args.append("--overlay2=none")
        return args

    def spec(
        self, cfg: ContainerConfig, link: ServerLink | None, netns: str | None = None, uids: ContainerUids | None = None
    ) -> dict[str, Any]:
        """The OCI spec; `netns`: the path of the network namespace the worker prepared for it;
        `uids`: its host uid range (runsc's gofer then works as that range's root)."""
        view, python = host_view()
        own = own_view(cfg, link)[0]
        env = self.container_env(cfg)  # the image's too: what a booted container is compared by (preboot.py)
        # /proc and /sys read-only: gVisor's own, but every kernel knob stays unwritable, as under
        # bwrap (runsc ignores the spec's readonlyPaths, so all of /proc: nothing needs to write it).
        tmp_options = ["nosuid", "nodev", f"size={TMP_MB}m"]  # bounded: a tmpfs is memory (sandbox.TMP_MB)
        mounts: list[dict[str, Any]] = [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["ro", "nosuid", "nodev", "noexec"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid", "nodev", "noexec"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": tmp_options},
        ]
        root, args, cwd = str(self.rootfs), cfg.argv(python), str(cfg.workdir)
        if cfg.image is None:
            binds = [(item.source, item.dest, "ro") for item in view if isinstance(item, Mount)]
            binds = [b for b in binds if b[1] != "/etc/resolv.conf" or netns is None]
        else:  # the image's own root (mounted by start()), the SDK and the mounted files on top
            root, args = str(cfg.image.merged), cfg.image.argv(cfg.python_args)
            cwd = cfg.image.image.state.workdir
            binds = [] if netns is not None else [("/etc/resolv.conf", "/etc/resolv.conf", "ro")]
            binds += [(source, dest, "ro") for source, dest in cfg.image.binds()]
        if netns is not None:  # DNS to the resolver its NAT reaches (network.nameservers)
            binds.append((self.resolv_conf(), "/etc/resolv.conf", "ro"))
        # Where the gofer, as the range's root, finds read-only sources and the container's own (uid_ranges.py).
        source, own_source = (uids.expose, uids.expose_own) if uids is not None else (str, str)
        binds = [(source(s), d, m) for s, d, m in binds]
        binds += [(own_source(bind.source), bind.dest, "rw") for bind in own]
        if link is not None:
            binds.append((own_source(str(link.dir)), RPC_DIR, "ro"))
        mounts += [{"destination": d, "type": "bind", "source": s, "options": ["rbind", m]} for s, d, m in binds]
        if uids is not None and cfg.image is None:  # the gofer could not make them in the root's root-owned dirs
            _make_mount_points(self.rootfs, mounts)
            root = uids.expose(root)
        denied = [{"names": list(seccomp.denied_numbers()), "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        denied += [
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}]}
            for bit in _CLONE_NEW_BITS
        ]  # fmt: skip
        # In its own range (user namespace), root keeps root's everyday capabilities, as under
        # bwrap (uid_ranges.CAPABILITIES): what it changes is its range's; without one, none.
        kept = list(uid_ranges.CAPABILITIES) if uids is not None else []
        caps = {k: kept for k in ("bounding", "effective", "permitted")} | {"inheritable": [], "ambient": []}
        return {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": [f"{k}={v}" for k, v in env.items()],
                "cwd": cwd,
                "capabilities": caps,
                "noNewPrivileges": True,
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 65536, "soft": 65536}],
            },
            "root": {"path": root, "readonly": cfg.image is None},
            "hostname": "nano-modal",
            "mounts": mounts,
            "linux": {
                "namespaces": [
                    {"type": t, "path": netns} if t == "network" and netns else {"type": t} for t in NAMESPACES
                ]
                + ([{"type": "user"}] if uids is not None else []),
                "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": denied},
                **(_id_mappings(uids.range.uid) if uids is not None else {}),
            },
        }

    async def launch(self, cfg: ContainerConfig, stdin: int = asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
        if self.runsc is None:
            raise RuntimeError("runsc is not installed (apt-get install runsc)")
        link = await self._open_link(cfg)
        bundle = self.base / "bundles" / cfg.container_id
        bundle.mkdir(parents=True, exist_ok=True)
        try:
            netns = await self._network(cfg) if self.outbound(cfg) else None
            runsc = [*self._runsc(cfg, networked=netns is not None), "run", "--bundle", str(bundle), cfg.container_id]
            mask = runsc_build.network_check_mask(runsc[0]) if netns is not None else None
            argv = [*self._limit(cfg), *runsc]
            own_view(cfg, link)  # first: it makes the volumes' directories, which _own_uids gives the range
            uids = await self._own_uids(cfg, link)
            if cfg.image is not None:
                await asyncio.to_thread(
                    cfg.image.mount, cfg.container_id, uids.range if uids else None, (self.disks, cfg.disk_mb)
                )
            (bundle / "config.json").write_text(json.dumps(self.spec(cfg, link, netns, uids)))
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            proc = await self._exec(argv, env, cfg.workdir, stdin, preexec_fn=mask)
        except BaseException:
            await self.finish(cfg, -1)
            raise
        self._ids[proc.pid] = self._sandbox_ids[cfg.container_id] = cfg.container_id
        return proc

    async def _network(self, cfg: ContainerConfig) -> str | None:
        """The path of a network namespace for the container, with its NAT and routes in place
        (gvisor_network.py); None (a warning said why) if none could be made: --network=none."""
        assert self._networks is not None
        prepared = await self._networks.take()
        if prepared is None:
            return None
        self._netns[cfg.container_id] = prepared.fd
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ready.set_result(None)
        self._nats[cfg.container_id] = (prepared.nat, ready)  # closed by finish(), as bwrap's
        return prepared.path

    async def close(self) -> None:
        await super().close()
        if self._networks is not None:
            await self._networks.close()

    def rekey(self, old_id: str, new_id: str) -> None:
        super().rekey(old_id, new_id)
        self._sandbox_ids[new_id] = self._sandbox_ids.pop(old_id, old_id)
        if old_id in self._netns:
            self._netns[new_id] = self._netns.pop(old_id)

    async def stop(self, proc: asyncio.subprocess.Process, grace: float = 2.0) -> None:
        """SIGTERM inside the sandbox (`runsc run` does not relay it), so exit hooks run; after
        `grace`, the base SIGTERM/SIGKILL of runsc, whose sandbox dies with it."""
        sandbox_id = self._ids.get(proc.pid)
        if sandbox_id is not None and proc.returncode is None:
            await self._bounded([*self._runsc(), "kill", sandbox_id, "TERM"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
        await super().stop(proc, grace=0.5)

    async def signal_entrypoint(self, proc: asyncio.subprocess.Process, cfg: ContainerConfig, sig: int) -> None:
        if self.runsc is not None:
            sandbox_id = self._sandbox_ids.get(cfg.container_id, cfg.container_id)
            await self._bounded([*self._runsc(), "kill", sandbox_id, str(int(sig))])

    async def finish(self, cfg: ContainerConfig, code: int) -> str:
        sandbox_id = self._sandbox_ids.pop(cfg.container_id, cfg.container_id)
        self._ids = {pid: i for pid, i in self._ids.items() if i != sandbox_id}
        if self.runsc is not None:
            await self._bounded([*self._runsc(), "delete", "--force", sandbox_id])
        reason = await super().finish(cfg, code)
        netns = self._netns.pop(cfg.container_id, -1)
        if netns >= 0:  # (the sandbox, gone now, held it too)
            os.close(netns)
        if cfg.image is not None:
            await asyncio.to_thread(cfg.image.release)
        self._release_uids(cfg)
        shutil.rmtree(self.base / "bundles" / sandbox_id, ignore_errors=True)
        if not reason and code > 128:
            reason = f"killed by signal {code - 128}"
        return reason

    async def _bounded(self, argv: list[str]) -> None:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True
        )
        try:
            await asyncio.wait_for(proc.wait(), RUNSC_TIMEOUT)
        except TimeoutError:
            log.warning("%s timed out after %.0fs", " ".join(argv[-3:]), RUNSC_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            await proc.wait()
