"""Bind mounts and idmapped bind mounts made by the root worker, through the kernel's calls
(no `mount` process per mount: a container start makes several).

An idmapped mount (Linux 5.12+, mount_setattr(MOUNT_ATTR_IDMAP)) shows a directory's files with
their owners shifted through a user namespace's map: host uid 0 appears as the namespace's uid
0, whose host uid is the container's range (uid_ranges.py). Files created through it are
stored shifted back, so what a container writes through one is owned on disk as it would be
by a root container. ext4, xfs, btrfs and tmpfs (6.3+) support it; overlayfs itself does not,
but it stacks on idmapped layers (images/rootfs.py).
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)

# x86_64 and aarch64 share these numbers (the new mount API came after the tables unified).
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_OPEN_TREE_CLONE = 1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_IDMAP = 0x1, 0x00100000
_MS_RDONLY, _MS_REMOUNT, _MS_BIND = 0x1, 0x20, 0x1000
_MNT_DETACH = 2


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _check(result: int, what: str, path: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} {path}: {os.strerror(err)}")
    return result


def bind(source: str, target: str, read_only: bool = False) -> None:
    """`mount --bind source target` (and `-o remount,bind,ro`)."""
    _check(_libc.mount(source.encode(), target.encode(), None, _MS_BIND, None), "bind", source)
    if read_only:
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY
        _check(_libc.mount(b"none", target.encode(), None, flags, None), "remount read-only", target)


def idmapped_bind(source: str, target: str, userns_fd: int, read_only: bool = False) -> bool:
    """Bind `source` at `target` with its owners shifted through user namespace `userns_fd`;
    a plain bind where its filesystem cannot be idmapped. True if idmapped. Read-only binds
    also keep a removal of their mount point's directory (shutil.rmtree does not stop at
    mounts) from reaching into the source."""
    tree = _check(
        _libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, source.encode(), _OPEN_TREE_CLONE | os.O_CLOEXEC), "open_tree", source
    )
    try:
        attr = _MountAttr(_MOUNT_ATTR_IDMAP | (_MOUNT_ATTR_RDONLY if read_only else 0), 0, 0, userns_fd)
        if _libc.syscall(_SYS_MOUNT_SETATTR, tree, b"", _AT_EMPTY_PATH, ctypes.byref(attr), ctypes.sizeof(attr)) < 0:
            if ctypes.get_errno() not in (22, 95):  # EINVAL, EOPNOTSUPP: this filesystem has no idmapping
                _check(-1, "mount_setattr", source)
            bind(source, target, read_only)
            return False
        _check(
            _libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH),
            "move_mount",
            source,
        )
        return True
    finally:
        os.close(tree)


def detach(target: str) -> None:
    """`umount --lazy target`; nothing if it is not mounted (any more)."""
    _libc.umount2(target.encode(), _MNT_DETACH)
