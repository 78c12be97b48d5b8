"""Per-container cgroups: memory, cpu and pids limits, and OOM detection.

Containers get a child cgroup under the worker's *own* cgroup, never the hierarchy's root:
the worker may itself run inside a container or a systemd slice that owns the rest.
cgroup v1 (one hierarchy per controller) and v2 (one unified hierarchy) are both handled;
where a controller is missing or not writable, its limit is skipped with a warning.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("nano_modal.worker")

CONTROLLERS = ("memory", "cpu", "pids")
ENV_CONTAINERS_MEMORY = "NANO_MODAL_CONTAINERS_MEMORY_MB"
ENV_CONTAINER_MEMORY = "NANO_MODAL_CONTAINER_MEMORY_MB"


def containers_memory_mb() -> int:
    """MiB the host's containers may hold together: all but what the host keeps for itself,
    the server and the worker (a tenth, at least 1 GiB), so that containers without a memory
    limit of their own (the default, as on Modal) run out of memory before the host does."""
    if os.environ.get(ENV_CONTAINERS_MEMORY):
        return int(os.environ[ENV_CONTAINERS_MEMORY])
    try:
        host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MIB
    except (ValueError, OSError):
        return 0
    return max(256, host - max(1024, host // 10))


def container_memory_mb() -> int:
    """The hard memory limit (MiB) of one container whose function asked for none: a
    function's `memory=` is its own limit and wins. By default the worker-wide cap
    (containers_memory_mb): one container may hold what all of them may, as before; an
    operator sets NANO_MODAL_CONTAINER_MEMORY_MB lower so that one cannot starve the others."""
    explicit = os.environ.get(ENV_CONTAINER_MEMORY)
    if not explicit:
        return containers_memory_mb()
    if not explicit.isdigit() or int(explicit) <= 0:
        raise SystemExit(f"{ENV_CONTAINER_MEMORY}={explicit!r}: a container's memory limit is a positive number of MiB")
    return int(explicit)


CPU_PERIOD_US = 100_000
MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 0  # hard limit; 0 = none
    cpu: float = 0.0  # cores this container may use at most (CFS quota); 0 = none
    cpu_shares: float = 0.0  # relative weight under contention, in cores requested
    pids: int = 0  # processes and threads; 0 = none


@dataclass
class Cgroup:
    """One container's cgroup: a directory per controller (v1) or a single one (v2)."""

    dirs: dict[str, Path]
    version: int
    limits: Limits

    def procs_files(self) -> list[Path]:
        """The files a process writes "0" to in order to join this cgroup."""
        return sorted({d / "cgroup.procs" for d in self.dirs.values()})

    def oom_killed(self) -> bool:
        d = self.dirs.get("memory")
        if d is None:
            return False
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (d / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
        # v1 kernels before 4.13 have no oom_kill counter: having hit the limit is the best hint.
        with contextlib.suppress(OSError, ValueError):
            return self.version == 1 and int((d / "memory.failcnt").read_text()) > 0
        return False

    def memory_usage(self) -> int:
        """Bytes its processes use now (0 if unknown)."""
        d = self.dirs.get("memory")
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((d / name).read_text()) if d else 0
        return 0

    def pids_exhausted(self) -> bool:
        """Whether a fork or clone failed on the pids limit (gVisor's sandbox dies of it)."""
        d = self.dirs.get("pids")
        with contextlib.suppress(OSError, ValueError):
            for line in ((d / "pids.events").read_text() if d else "").splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value) > 0
        return False

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files():
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in f.read_text().split())
        return found

    def destroy(self, timeout: float = 2.0) -> None:
        """Kill whatever is left inside (a daemonized grandchild, say), then remove the directories."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            removed = True
            for d in self.dirs.values():
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    removed = False
            if removed:
                return
            if time.monotonic() > deadline:
                log.warning("could not remove cgroup %s", ", ".join(map(str, self.dirs.values())))
                return
            time.sleep(0.01)


@dataclass
class CgroupManager:
    """Finds the worker's own cgroup and creates containers' cgroups below it."""

    version: int
    parents: dict[str, Path]  # controller -> <worker's own cgroup>/nano-modal/w<worker pid>
    warned: set[str] = field(default_factory=set)

    @staticmethod
    def detect() -> CgroupManager | None:
        try:
            manager = _detect_v1() or _detect_v2()
        except OSError as exc:
            log.warning("cgroups unavailable (%s): containers run without cpu/memory/pids limits", exc)
            return None
        if manager is None:
            log.warning("no writable cgroup found: containers run without cpu/memory/pids limits")
        else:
            atexit.register(manager.close)
            manager.weigh_as_cores(os.cpu_count() or 1)
            manager.cap_memory(containers_memory_mb())
        return manager

    def weigh_as_cores(self, cores: int) -> None:
        """Give the containers, together, the CPU weight of `cores` busy processes beside them.
        At the default weight (one process's) every container on the host shared one process's
        turn: on 2 cores at load 30, a CPU-bound map ran 3-4x slower than Pool's 2 processes,
        and as fast as them with the containers left in the worker's own cgroup. Each container's
        own weight (its cpu request, Limits.cpu_shares) still divides that among them."""
        parent = self.parents.get("cpu")
        if parent is None:
            return
        if self.version == 1:
            file, value = "cpu.shares", str(1024 * cores)
        else:
            file, value = "cpu.weight", str(min(10000, 100 * cores))
        for d in (parent.parent, parent):  # <own>/nano-modal (shared by the host's workers), w<pid>
            try:
                (d / file).write_text(value)
            except OSError as exc:
                self._warn_once("cpu.group", f"could not set {d / file}={value}: {exc}")

    def cap_memory(self, total_mb: int) -> None:
        """Bound what the containers hold together (containers_memory_mb): a container without
        a limit of its own could otherwise take the host's memory from the server and worker."""
        parent = self.parents.get("memory")
        if parent is None or total_mb <= 0:
            return
        # This worker's own directory (w<pid>), not the one its host's workers share: each worker
        # is started with its own setting (one per host is the norm: deploy/).
        file = parent / ("memory.limit_in_bytes" if self.version == 1 else "memory.max")
        try:
            file.write_text(str(total_mb * MIB))
        except OSError as exc:
            self._warn_once("memory.group", f"could not set {file}={total_mb} MiB: {exc}")

    def close(self) -> None:
        """At the worker's exit: end its containers' leftovers and remove its directories."""
        for parent in set(self.parents.values()):
            with contextlib.suppress(OSError):
                for child in [c for c in parent.iterdir() if c.is_dir()]:
                    Cgroup({"": child}, self.version, Limits()).destroy(timeout=0.5)
                parent.rmdir()

    def create(self, name: str, limits: Limits) -> Cgroup:
        """A fresh cgroup with `limits`, ready for a process to join."""
        dirs: dict[str, Path] = {}
        for controller, parent in self.parents.items():
            dirs[controller] = parent / name  # v2: the same directory for every controller
            dirs[controller].mkdir(exist_ok=True)
        cgroup = Cgroup(dirs, self.version, limits)
        self.apply(cgroup, limits)
        return cgroup

    def apply(self, cgroup: Cgroup, limits: Limits, strict: bool = False) -> None:
        """Set `limits` on `cgroup`, which may hold processes already. A limit that cannot be
        set is warned about once, or with `strict` raised (OSError), e.g. a memory limit below
        what the processes inside use now."""
        for key, (file, value) in self._settings(limits).items():
            target = cgroup.dirs.get(key.split(".")[0])
            if target is None:
                self._warn_once(key, f"no {key.split('.')[0]} controller: limit {file} not applied")
                continue
            try:
                (target / file).write_text(value)
            except OSError as exc:
                if strict:
                    raise OSError(f"could not set {file}={value}: {exc}") from exc
                self._warn_once(key, f"could not set {file}={value}: {exc}")
        cgroup.limits = limits

    def _settings(self, limits: Limits) -> dict[str, tuple[str, str]]:
        s: dict[str, tuple[str, str]] = {}
        mem = limits.memory_mb * MIB
        if self.version == 1:
            if mem:
                s["memory.limit"] = ("memory.limit_in_bytes", str(mem))
                memory_parent = self.parents.get("memory")
                if memory_parent is not None and (memory_parent / "memory.memsw.limit_in_bytes").exists():
                    s["memory.memsw"] = ("memory.memsw.limit_in_bytes", str(mem))  # no escape into swap
            if limits.cpu_shares:
                s["cpu.shares"] = ("cpu.shares", str(max(2, int(limits.cpu_shares * 1024))))
            if limits.cpu:
                s["cpu.quota"] = ("cpu.cfs_quota_us", str(max(1000, int(limits.cpu * CPU_PERIOD_US))))
        else:
            if mem:
                s["memory.max"] = ("memory.max", str(mem))
                s["memory.swap"] = ("memory.swap.max", "0")
            if limits.cpu_shares:
                s["cpu.weight"] = ("cpu.weight", str(min(10000, max(1, int(limits.cpu_shares * 100)))))
            if limits.cpu:
                s["cpu.max"] = ("cpu.max", f"{max(1000, int(limits.cpu * CPU_PERIOD_US))} {CPU_PERIOD_US}")
        if limits.pids:
            s["pids.max"] = ("pids.max", str(limits.pids))
        return s

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning("%s", message)


def _mount_points(fstype: str) -> list[tuple[Path, str, set[str]]]:
    """(mount point, root inside the hierarchy, super options) of each mount of `fstype`."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if rfields and rfields[0] == fstype:
            found.append((Path(fields[4]), fields[3], set(rfields[2].split(","))))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = path
    return own


def _below(mount: Path, mount_root: str, path: str) -> Path:
    rel = os.path.relpath(path, mount_root) if mount_root != "/" else path.lstrip("/")
    return mount if rel in (".", "") else mount / rel


def _usable(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        return os.access(d, os.W_OK)
    except OSError:
        return False


def _worker_dir(base: Path) -> Path:
    """<base>/nano-modal/w<pid>: one directory per worker, so that workers sharing a cgroup
    never touch each other's containers; those of dead workers are cleared on the way."""
    top = base / "nano-modal"
    with contextlib.suppress(OSError):
        for stale in top.glob("w*"):
            if stale.name[1:].isdigit() and not Path(f"/proc/{stale.name[1:]}").exists():
                for child in [c for c in stale.iterdir() if c.is_dir()]:
                    Cgroup({"": child}, 1, Limits()).destroy(timeout=0.5)
                with contextlib.suppress(OSError):
                    stale.rmdir()
    return top / f"w{os.getpid()}"


def _detect_v1() -> CgroupManager | None:
    own = _own_cgroups()
    parents: dict[str, Path] = {}
    for mount, root, options in _mount_points("cgroup"):
        for controller in CONTROLLERS:
            if controller in options and controller in own and controller not in parents:
                parent = _worker_dir(_below(mount, root, own[controller]))
                if _usable(parent):
                    parents[controller] = parent
    return CgroupManager(1, parents) if parents else None


def _detect_v2() -> CgroupManager | None:
    own = _own_cgroups()
    if "" not in own:
        return None
    for mount, root, _ in _mount_points("cgroup2"):
        base = _below(mount, root, own[""])
        enabled = set((mount / "cgroup.controllers").read_text().split()) & set(CONTROLLERS)
        if not enabled:
            continue
        # v2 forbids processes in a cgroup whose children have controllers: move the worker
        # itself into a leaf first, then enable the controllers for the containers' subtree.
        leaf, parent = base / "nano-modal-worker", _worker_dir(base)
        try:
            leaf.mkdir(exist_ok=True)
            (leaf / "cgroup.procs").write_text(str(os.getpid()))
            controls = " ".join(f"+{c}" for c in sorted(enabled))
            for d in (base, parent.parent, parent):
                d.mkdir(exist_ok=True)
                (d / "cgroup.subtree_control").write_text(controls)
        except OSError as exc:
            log.warning("cgroup v2 at %s not usable: %s", base, exc)
            continue
        return CgroupManager(2, dict.fromkeys(enabled, parent))
    return None
