"""Each container's disk: a filesystem of its own, so that one container cannot fill the host's.

A container writes to its work directory ($HOME, its synced volumes) and, in an image, to its
overlay's upper directory. Both are directories on the worker's disk, so without a limit one
container's `dd` could fill the host's disk under the server and every other container. This
kernel has no quota support (CONFIG_QUOTA is off, so neither ext4 nor xfs project quotas work),
and a watchdog that measures and kills comes after the disk is full. So a root worker mounts a
fresh ext4 filesystem of the container's size (Modal's `ephemeral_disk=`, or the worker's
default) on each such directory: a sparse file, looped, that takes host disk only for what is
written (mounted with `discard`, deletions give it back) and is deleted with the container.

Formatting one (mkfs.ext4, ~12 ms) happens ahead of need, in the background: a start only
attaches a loop device and mounts (~3 ms, through the kernel's calls rather than `mount`).

Sparse files are promises: N containers of 10 GiB each could write more than the host's disk
holds. So the worker keeps a budget for its containers' disks together, NANO_MODAL_CONTAINERS_DISK_MB
(default: a share of the free space of its directory at start), and reserves each disk's full
size against it when mounting it; a container whose disk does not fit is refused at start, in
one line naming the setting (its exit reason: a sandbox ends with it, a function's calls fail
with it after the server's few failed starts in a row). Placement does not know a worker's
disk yet, so this is the worker's own check, and it refuses rather than waits.

Without root, loop devices or mkfs.ext4 (an unprivileged worker, a container host without
/dev/loop-control), container disks are not limited; the worker says so once at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

log = logging.getLogger("nano_modal.worker")

ENV_DISK_MB = "NANO_MODAL_CONTAINER_DISK_MB"
# A container's disk when its function does not ask (Modal's ephemeral_disk=, MiB). Sparse, so
# the size costs nothing until written; but each is reserved whole against the worker's budget
# (below), so the default is capped to a share of that budget: a worker holds at least
# DISKS_AT_DEFAULT disks of the default size at once (an image container has two).
DEFAULT_DISK_MB = 10 * 1024
DISKS_AT_DEFAULT = 32
IMAGE_PREFIX = "nano-modal-disk-"  # the backing files, in the worker's directory (scratch.py)
READY_IMAGES = 2  # formatted ahead of need, of the default size
ENV_DISKS_MB = "NANO_MODAL_CONTAINERS_DISK_MB"
# The budget's default share of the free space of the worker's directory at its start: what all
# of its containers' disks may hold together, the rest left to the images, logs and the server.
DISKS_SHARE_OF_FREE = 0.8
MKFS_TIMEOUT = 60.0
# No journal (a container's disk does not outlive a crash of its host), no reserved blocks; the
# inode tables are not zeroed (lazy_itable_init at mkfs, noinit_itable at mount): the sparse
# file reads as zeros already, and zeroing would write them to the host's disk.
MKFS_ARGS = ("-q", "-F", "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard", "-m", "0")
MOUNT_DATA = b"discard,noinit_itable"

_libc = ctypes.CDLL(None, use_errno=True)
_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A
_LO_FLAGS_AUTOCLEAR = 4  # the loop device goes away with its last user (the mount)
_MS_NOSUID, _MS_NODEV = 0x2, 0x4
_MNT_DETACH = 2


class _LoopInfo64(ctypes.Structure):
    _fields_ = [
        ("lo_device", ctypes.c_uint64),
        ("lo_inode", ctypes.c_uint64),
        ("lo_rdevice", ctypes.c_uint64),
        ("lo_offset", ctypes.c_uint64),
        ("lo_sizelimit", ctypes.c_uint64),
        ("lo_number", ctypes.c_uint32),
        ("lo_encrypt_type", ctypes.c_uint32),
        ("lo_encrypt_key_size", ctypes.c_uint32),
        ("lo_flags", ctypes.c_uint32),
        ("lo_file_name", ctypes.c_uint8 * 64),
        ("lo_crypt_name", ctypes.c_uint8 * 64),
        ("lo_encrypt_key", ctypes.c_uint8 * 32),
        ("lo_init", ctypes.c_uint64 * 2),
    ]


class _LoopConfig(ctypes.Structure):
    _fields_ = [
        ("fd", ctypes.c_uint32),
        ("block_size", ctypes.c_uint32),
        ("info", _LoopInfo64),
        ("reserved", ctypes.c_uint64 * 8),
    ]


def default_size_mb(budget: int) -> int:
    """A container's disk when its function does not ask: the setting, else DEFAULT_DISK_MB or a
    DISKS_AT_DEFAULT-th of the worker's budget (`budget`, MiB), whichever is smaller."""
    explicit = os.environ.get(ENV_DISK_MB)
    if explicit:
        return int(explicit)
    return max(1, min(DEFAULT_DISK_MB, budget // DISKS_AT_DEFAULT))


def budget_mb() -> int:
    """What the worker's container disks may hold together (MiB): the setting, else a share of the free space."""
    explicit = os.environ.get(ENV_DISKS_MB)
    if explicit:
        return int(explicit)
    return max(1, int(shutil.disk_usage(tempfile.gettempdir()).free // 2**20 * DISKS_SHARE_OF_FREE))


class DiskBudgetFull(RuntimeError):
    """A container's disk would take the worker's containers' disks past NANO_MODAL_CONTAINERS_DISK_MB."""


class ContainerDisks:
    """The worker's container disks: one owner for the backing files and mounts it made."""

    def __init__(self, default_mb: int, enabled: bool, budget: int = 0) -> None:
        self.budget_mb = budget or default_mb  # what the mounted disks' sizes may add up to
        self.default_mb = min(default_mb, self.budget_mb)  # one container of the default size always fits
        self.enabled = enabled
        self.sizes: dict[str, int] = {}  # mount point -> its disk's size (MiB), reserved against the budget
        self._reserving = threading.Lock()  # attach() runs in the worker's threads
        self.ready: list[Path] = []  # formatted images of the default size
        self.mounted: dict[str, Path] = {}  # mount point -> its backing file
        self.filling: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the worker's: where refills run

    @classmethod
    def detect(cls) -> ContainerDisks:
        budget = budget_mb()
        missing = _why_not_available()
        if missing:
            log.warning("container disks are not limited (%s): a container may fill the worker's disk", missing)
        return cls(default_size_mb(budget), enabled=not missing, budget=budget)

    def size_of(self, asked_mb: int) -> int:
        return asked_mb or self.default_mb

    def attach(self, directory: Path, asked_mb: int = 0) -> None:
        """Mount a fresh disk of the container's size on `directory` (an empty directory); nothing
        if disks are off or one is mounted there already. Blocking (a few ms): run in a thread
        from the event loop."""
        if not self.enabled or str(directory) in self.mounted:
            return
        size_mb = self.size_of(asked_mb)
        self._reserve(str(directory), size_mb)
        try:
            image = self.ready.pop() if size_mb == self.default_mb and self.ready else None
            if image is None:
                image = _format(size_mb)
            try:
                _mount_loop(image, directory)
            except BaseException:
                image.unlink(missing_ok=True)
                raise
        except BaseException:
            self.sizes.pop(str(directory), None)
            raise
        self.mounted[str(directory)] = image
        with contextlib.suppress(OSError):
            (directory / "lost+found").rmdir()  # ext4's, not the container's: its $HOME starts empty
        self._refill()

    def _reserve(self, directory: str, size_mb: int) -> None:
        """Count a disk of `size_mb` against the budget, or refuse it (DiskBudgetFull) if it does not fit."""
        with self._reserving:
            held = sum(self.sizes.values())
            if held + size_mb > self.budget_mb:
                if size_mb > self.budget_mb:
                    raise DiskBudgetFull(
                        f"its disk of {size_mb:,} MiB (ephemeral_disk=) is larger than all this worker's "
                        f"containers may hold together, {ENV_DISKS_MB}={self.budget_mb:,} MiB"
                    )
                raise DiskBudgetFull(
                    f"no room for its disk of {size_mb:,} MiB: this worker's containers hold {held:,} MiB of "
                    f"{ENV_DISKS_MB}={self.budget_mb:,} MiB (their disks' sizes together)"
                )
            self.sizes[directory] = size_mb

    def remove(self, directory: Path) -> None:
        """Unmount `directory`'s disk (its files go with it), then remove the directory."""
        image = self.mounted.pop(str(directory), None)
        if image is not None:
            if _libc.umount2(str(directory).encode(), _MNT_DETACH) != 0:
                log.warning("unmounting the disk of %s: %s", directory, os.strerror(ctypes.get_errno()))
            image.unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)
        self.sizes.pop(str(directory), None)  # after its blocks went back to the host's disk

    def _refill(self) -> None:
        """Format another ready image in the background (safe from the worker's threads)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._start_filling)

    def _start_filling(self) -> None:
        if self.filling is None or self.filling.done():
            self.filling = asyncio.ensure_future(self._fill())

    async def start(self) -> None:
        """Format the first ready images (the worker calls it once its loop runs)."""
        if self.enabled:
            self._loop = asyncio.get_running_loop()
            self._start_filling()

    async def _fill(self) -> None:
        while len(self.ready) < READY_IMAGES:
            try:
                image = await asyncio.to_thread(_format, self.default_mb)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("could not format a container disk ahead of need: %s", exc)
                return
            self.ready.append(image)

    def close(self) -> None:
        for directory in list(self.mounted):
            self.remove(Path(directory))
        for image in self.ready:
            image.unlink(missing_ok=True)
        self.ready.clear()


def _why_not_available() -> str:
    if os.geteuid() != 0:
        return "the worker is not root: loop mounts need it"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control"
    if shutil.which("mkfs.ext4") is None:
        return "mkfs.ext4 is not installed: apt-get install e2fsprogs"
    return ""


def _format(size_mb: int) -> Path:
    fd, name = tempfile.mkstemp(prefix=IMAGE_PREFIX, suffix=".img")
    try:
        os.ftruncate(fd, size_mb * 2**20)
    finally:
        os.close(fd)
    try:
        command = ["mkfs.ext4", *MKFS_ARGS, name]
        subprocess.run(command, check=True, capture_output=True, timeout=MKFS_TIMEOUT, stdin=subprocess.DEVNULL)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _mount_loop(image: Path, directory: Path) -> None:
    """`mount -o loop,nosuid,nodev,discard image directory`, through the kernel's calls."""
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(8):  # another process may take the free device between the two calls
            number = _libc.ioctl(control, _LOOP_CTL_GET_FREE)
            if number < 0:
                raise OSError(ctypes.get_errno(), f"no free loop device: {os.strerror(ctypes.get_errno())}")
            device = f"/dev/loop{number}"
            loop_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            try:
                config = _LoopConfig(fd=backing)
                config.info.lo_flags = _LO_FLAGS_AUTOCLEAR
                if _libc.ioctl(loop_fd, _LOOP_CONFIGURE, ctypes.byref(config)) != 0:
                    if ctypes.get_errno() == errno.EBUSY:
                        continue
                    raise OSError(ctypes.get_errno(), f"loop device {device}: {os.strerror(ctypes.get_errno())}")
                flags = _MS_NOSUID | _MS_NODEV
                if _libc.mount(device.encode(), str(directory).encode(), b"ext4", flags, MOUNT_DATA) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"mounting a container disk on {directory}: {os.strerror(err)}")
                return
            finally:
                os.close(loop_fd)  # autoclear: the device lives as long as the mount
        raise OSError(errno.EBUSY, "no free loop device after 8 tries")
    finally:
        os.close(backing)
        os.close(control)
