"""Setuid bits and device nodes never enter the image store from an image's layers: a layer of
a registry image (tar), a build step's or a snapshot's upper directory all pass through
Store.staging(). The host's view of the stored files is read after."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

from nano_modal.worker.images.oci_layers import apply_layer
from nano_modal.worker.images.store import Store

NULL_DEVICE = os.makedev(1, 3)  # what /dev/null is; any device node would do
DISK_DEVICE = os.makedev(8, 0)  # /dev/sda's numbers: a raw disk


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _layer_tar() -> io.BytesIO:
    """A registry image's layer as an attacker would build it."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, mode in (("usr/bin/rootshell", 0o4755), ("usr/bin/groupshell", 0o2755)):
            info = tarfile.TarInfo(name)
            info.mode, info.size, info.uid = mode, 4, 0
            tar.addfile(info, io.BytesIO(b"\x7fELF"))
        for name, kind, (major, minor) in (("disk", tarfile.BLKTYPE, (8, 0)), ("null", tarfile.CHRTYPE, (1, 3))):
            info = tarfile.TarInfo(name)
            info.type, info.devmajor, info.devminor, info.mode = kind, major, minor, 0o666
            tar.addfile(info)
        info = tarfile.TarInfo("tmp")
        info.type, info.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(info)
    data.seek(0)
    return data


def test_a_registry_layer_enters_the_store_without_setuid_bits_or_devices(tmp_path: Path) -> None:
    store = Store(tmp_path / "images")
    final = store.layer_dir("attacker")
    with store.staging(final) as tmp:
        apply_layer(_layer_tar(), tmp / "diff")
    diff = final / "diff"
    assert _mode(diff / "usr/bin/rootshell") == 0o755
    assert _mode(diff / "usr/bin/groupshell") == 0o755
    assert not os.path.lexists(diff / "disk") and not os.path.lexists(diff / "null")
    assert _mode(diff / "tmp") == 0o1777  # the sticky bit is no privilege: it stays


def test_a_build_steps_upper_directory_is_stripped_but_whiteouts_stay(tmp_path: Path) -> None:
    store = Store(tmp_path / "images")
    final = store.layer_dir("step")
    with store.staging(final) as tmp:
        upper = tmp / "diff"
        (upper / "bin").mkdir(parents=True)
        (upper / "bin/sudo").write_bytes(b"\x7fELF")
        (upper / "bin/sudo").chmod(0o4711)
        (upper / "var/mail").mkdir(parents=True)
        (upper / "var/mail").chmod(0o2775)  # setgid on a directory picks new files' group: kept
        os.mknod(upper / "sda", 0o660 | stat.S_IFBLK, DISK_DEVICE)
        os.mknod(upper / "console", 0o600 | stat.S_IFCHR, NULL_DEVICE)
        os.mknod(upper / "deleted-file", 0o000 | stat.S_IFCHR, 0)  # overlayfs's whiteout: a deletion
    diff = final / "diff"
    assert _mode(diff / "bin/sudo") == 0o711
    assert _mode(diff / "var/mail") == 0o2775
    assert not os.path.lexists(diff / "sda") and not os.path.lexists(diff / "console")
    whiteout = os.lstat(diff / "deleted-file")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
