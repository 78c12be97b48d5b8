"""Run by the root worker as a process of its own, `python -I ns_helper.py OP PID ...`: the steps
that must happen inside a running container's mount namespace (Sandbox.snapshot_directory,
mount_image, unmount_image). setns() into a mount namespace is refused to a process with
threads, and the worker has them (asyncio's); this script imports nothing of nano-modal's.

Paths are resolved inside the namespace, where the container's root is `/`: a symlink the
container made cannot point anywhere but into the container's own files (and a copy walks
from open directories, following none).

    copy PID PATH DEST     the directory PATH, as the container sees it, copied into DEST (host)
    mount PID SOURCE PATH OWNER   the host mount at SOURCE shown at PATH (made if missing, owned by OWNER)
    umount PID PATH        the mount at PATH detached
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from collections.abc import Callable

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNS = 0x00020000
# x86_64 and aarch64 share these numbers (as in mounts.py).
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT = 428, 429
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000
_OPEN_TREE_CLONE = 1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MNT_DETACH, _UMOUNT_NOFOLLOW = 2, 8


def _check(result: int, what: str) -> int:
    if result < 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, _CLONE_NEWNS), "entering the container's mount namespace")


def _enter(pid: str) -> None:
    fd = os.open(f"/proc/{int(pid)}/ns/mnt", os.O_RDONLY)
    _setns(fd)
    os.close(fd)


def copy(pid: str, path: str, dest: str) -> None:
    out = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)  # the host's, opened before leaving its namespace
    _enter(pid)
    try:
        source = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except NotADirectoryError:
        raise OSError(f"{path} is not a directory") from None
    except FileNotFoundError:
        raise OSError(f"{path} does not exist in the sandbox") from None
    _copy_tree(source, out)


_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # (O_NONBLOCK: a file swapped for a fifo cannot hang us)
_CHUNK = 1 << 20  # bytes per sendfile


def _copy_tree(source: int, out: int) -> None:
    """Copy the directory open as `source` into the one open as `out`, one name at a time relative
    to open directories, never following a symlink: the sandbox may change its files while they
    are copied, and a path walked by name could be redirected into the host's files. Directories,
    regular files and symlinks are copied with owners, modes and times; fifos, sockets and
    devices are not."""
    for name in os.listdir(source):
        st = os.stat(name, dir_fd=source, follow_symlinks=False)
        try:
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=source), name, dir_fd=out)
                os.chown(name, st.st_uid, st.st_gid, dir_fd=out, follow_symlinks=False)
                continue
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                continue
            src = os.open(name, _READ | (os.O_DIRECTORY if stat.S_ISDIR(st.st_mode) else 0), dir_fd=source)
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone or changed meanwhile
        try:
            now = os.fstat(src)
            if stat.S_ISDIR(now.st_mode):
                os.mkdir(name, 0o700, dir_fd=out)
                dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=out)
                try:
                    _copy_tree(src, dst)
                    _keep(dst, now)
                finally:
                    os.close(dst)
            elif stat.S_ISREG(now.st_mode):
                dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=out)
                try:
                    while os.sendfile(dst, src, None, _CHUNK):
                        pass
                    _keep(dst, now)
                finally:
                    os.close(dst)
        finally:
            os.close(src)


def _keep(fd: int, st: os.stat_result) -> None:
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def mount(pid: str, source: str, path: str, owner: str) -> None:
    tree = _check(
        _libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, source.encode(), _OPEN_TREE_CLONE | os.O_CLOEXEC), "open_tree"
    )
    _enter(pid)
    if path.rstrip("/") == "":
        raise OSError("cannot mount an image at /")
    missing = []
    head = path.rstrip("/")
    while head and not os.path.lexists(head):
        missing.append(head)
        head = os.path.dirname(head)
    # Made as the container's root: the filesystems it mounted itself (its /tmp) know no other
    # uid (EOVERFLOW for host root), and the directory is then its to remove.
    _libc.setfsgid(int(owner))
    _libc.setfsuid(int(owner))
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except OSError as exc:
            raise OSError(f"cannot make {directory} in the sandbox: {exc.strerror}") from None
    _libc.setfsuid(0)
    _libc.setfsgid(0)
    if not os.path.isdir(path):
        raise OSError(f"{path} is not a directory")
    _check(_libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, path.encode(), _MOVE_MOUNT_F_EMPTY_PATH), "move_mount")


def umount(pid: str, path: str) -> None:
    _enter(pid)
    _check(_libc.umount2(path.encode(), _MNT_DETACH | _UMOUNT_NOFOLLOW), f"unmounting {path}")


if __name__ == "__main__":
    operations: dict[str, Callable[..., None]] = {"copy": copy, "mount": mount, "umount": umount}
    try:
        operations[sys.argv[1]](*sys.argv[2:])
    except OSError as exc:
        print(exc.strerror or exc, file=sys.stderr)
        sys.exit(1)
