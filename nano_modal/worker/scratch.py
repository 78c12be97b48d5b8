"""A worker's temporary files, and the removal of what dead workers on the host left behind.

Every worker gets its own directory, <tmp>/nano-modal-workers-<uid>/<pid>-<random>/, holding a
lock file it keeps locked (flock) for as long as it lives, and points `tempfile` at it: all
it and its runtime create with tempfile (container work directories with their copies of
volumes, agent and preboot directories, gVisor's sandbox state, image roots) lands inside.

A worker killed with SIGKILL cleans nothing, but the kernel releases its lock. So at start,
a worker tries each sibling's lock: a lock it can take belongs to a dead worker, whose
directory it removes (unmounting what is mounted inside, deleting gVisor sandboxes recorded
there); a lock it cannot take belongs to a live worker, whose files it leaves alone. No pid
is trusted (pids are reused); only the lock says who is alive.

Leftovers that live elsewhere are swept by their owners, by worker pid: cgroups
(cgroups.py `_worker_dir`).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .runsc import binary as runsc_binary

log = logging.getLogger("nano_modal.worker")

LOCK_FILE = "lock"
NEW_PREFIX = ".new-"  # a directory being set up (no lock taken yet): not a dead worker's
NEW_STALE_SECONDS = 3600.0  # ... unless it has been "new" this long (its worker died right then)
RUNSC_TIMEOUT = 10.0  # seconds for one `runsc delete` of a dead worker's sandbox
# What the entries of a worker's directory are, by the prefix its code gives them.
KINDS = {
    "nano-modal-agent-": "agent",
    "nano-modal-preboot-": "preboot",
    "nano-modal-gvisor-": "gvisor",
    "nano-modal-root-": "image root",
    "nano-modal-probe-": "probe",
    "nano-modal-rpc-": "server link",  # a container's relay socket to the server (sandbox.py ServerLink)
    "nano-modal-net-": "network",  # a container's NAT helper state (network.py)
    "nano-modal-blobs-": "image download",
    "nano-modal-disk-": "container disk",  # a container's disk's backing file (disks.py)
    "nano-modal-build-volumes-": "image build",
    "nano-modal-": "container work",  # nano-modal-<container id>-...: after the more specific ones
}

_held: list[int] = []  # the lock's descriptor: never closed, so the lock lasts as long as the process


def workers_root() -> Path:
    return Path(tempfile.gettempdir()) / f"nano-modal-workers-{os.getuid()}"


@dataclass
class Removed:
    """What one sweep removed, for its log line."""

    workers: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    bytes: int = 0

    def describe(self) -> str:
        parts = ", ".join(f"{n} {kind} dir{'s' if n != 1 else ''}" for kind, n in sorted(self.kinds.items()))
        return f"{self.workers} dead worker(s) left behind: {parts or 'nothing'} ({self.bytes / 2**20:.1f} MiB)"


def claim(root: Path | None = None) -> Path:
    """At worker start: remove what dead workers left under `root`, then make this worker's own
    directory, lock it for the life of the process, and point tempfile at it."""
    root = root or workers_root()
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    removed = sweep(root)
    if removed.workers:
        log.info("removed what %s", removed.describe())
    staging = Path(tempfile.mkdtemp(prefix=NEW_PREFIX, dir=root))
    fd = os.open(staging / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else holds it
    _held.append(fd)
    directory = root / f"{os.getpid()}-{staging.name.removeprefix(NEW_PREFIX)}"
    os.rename(staging, directory)  # only now visible to other workers' sweeps, already locked
    directory.chmod(0o711)  # containers (other uids under some runtimes) reach their dirs inside
    tempfile.tempdir = str(directory)
    atexit.register(shutil.rmtree, directory, True)  # a clean exit leaves nothing either
    return directory


def sweep(root: Path) -> Removed:
    """Remove the directories under `root` of workers that are no longer alive."""
    removed = Removed()
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.is_dir() or entry.is_symlink():
            continue
        if entry.name.startswith(NEW_PREFIX):
            with contextlib.suppress(OSError):
                if time.time() - entry.stat().st_mtime > NEW_STALE_SECONDS:
                    _remove(entry, removed)
            continue
        try:
            fd = os.open(entry / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # removed meanwhile by another worker's sweep
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # a live worker's
                raise
            _remove(entry, removed)
        finally:
            os.close(fd)
    return removed


def _remove(directory: Path, removed: Removed) -> None:
    removed.workers += 1
    for entry in directory.iterdir():
        kind = next((k for prefix, k in KINDS.items() if entry.name.startswith(prefix)), None)
        if kind is not None:
            removed.kinds[kind] = removed.kinds.get(kind, 0) + 1
    _delete_sandboxes(directory)
    unmount_below(directory)
    removed.bytes += _size(directory)
    shutil.rmtree(directory, ignore_errors=True)


def _delete_sandboxes(directory: Path) -> None:
    """gVisor sandboxes the dead worker recorded (runsc --root <its state>): delete them, which
    also kills what still runs in them."""
    runsc = runsc_binary()
    if runsc is None:
        return
    for state in directory.glob("nano-modal-gvisor-*/state"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            listed = subprocess.run(
                [runsc, "--root", str(state), "list", "--quiet"], capture_output=True, text=True, timeout=RUNSC_TIMEOUT
            ).stdout.split()
            for sandbox in listed:
                subprocess.run(
                    [runsc, "--root", str(state), "delete", "--force", sandbox],
                    capture_output=True,
                    timeout=RUNSC_TIMEOUT,
                    check=False,
                )


def unmount_below(directory: Path) -> None:
    """Overlay roots and binds the dead worker mounted inside its directory, deepest first: a
    removal through a mount would reach into what it shows."""
    prefix = str(directory) + "/"
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def _size(directory: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
