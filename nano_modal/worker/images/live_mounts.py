"""Images and directories of a running bwrap sandbox: `Sandbox.mount_image`, `unmount_image`
and `snapshot_directory`, done from outside by the root worker (ns_helper.py does the steps
that happen inside the container's mount namespace).

A mounted image is a root of its own (rootfs.ImageRoot: the image's layers, idmapped through
the container's uid range when it has one, and a private upper directory, so the container
may write there, on a disk of its own as bounded as the sandbox's root; the writes go when
it is unmounted), mounted on the host and then moved into the container's namespace at the
path. Runtimes that cannot: gVisor (its own kernel
keeps its mounts; the host cannot add one), process (no namespace of its own).
"""

from __future__ import annotations

import posixpath
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...exception import InvalidError
from .. import ns_helper
from ..uid_ranges import UidRange
from .rootfs import ImageRoot
from .store import BuiltImage

if TYPE_CHECKING:
    from ..disks import ContainerDisks

HELPER_TIMEOUT = 120.0  # seconds for one step inside a container's namespace (a copy may be large)


@dataclass
class LiveSandbox:
    """What the worker needs to reach into one running sandbox."""

    container_id: str
    pid: int  # a process inside the container's namespaces
    uids: UidRange | None  # its uid range, if it has one
    # Its disk's maker and size: what it writes into a mounted image is bounded as its root is.
    disk: tuple[ContainerDisks, int] | None = None
    mounted: dict[str, ImageRoot] = field(default_factory=dict)  # mount point: the image's root

    @property
    def root_uid(self) -> int:
        return self.uids.uid if self.uids is not None else 0


def mount_point(path: str, what: str) -> str:
    """`path` normalized; an absolute path other than / (as Modal requires)."""
    if not path.startswith("/"):
        raise InvalidError(f"{what} needs an absolute path, got {path!r}")
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/")


def in_namespace(*args: str) -> None:
    """Run one ns_helper step; its one-line error as an InvalidError."""
    argv = [sys.executable, "-I", ns_helper.__file__, *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=HELPER_TIMEOUT, check=False)
    if result.returncode != 0:
        raise InvalidError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"{args[0]} failed")


def copy_out(live: LiveSandbox, path: str, dest: Path) -> None:
    """The sandbox's directory `path` (as it sees it: its volumes and mounted images included)."""
    in_namespace("copy", str(live.pid), mount_point(path, "snapshot_directory"), str(dest))


def mount(live: LiveSandbox, path: str, image: BuiltImage) -> None:
    point = mount_point(path, "mount_image")
    if point == "/":
        raise InvalidError("mount_image cannot mount over the sandbox's root (/)")
    if point in live.mounted:
        raise InvalidError(f"an image is already mounted at {point}: unmount_image it first")
    root = ImageRoot(image, Path())  # (no runtime packages: nothing runs from it)
    root.mount(f"{live.container_id}-mount", live.uids, live.disk)
    try:
        in_namespace("mount", str(live.pid), str(root.merged), point, str(live.root_uid))
    except BaseException:
        root.release()
        raise
    live.mounted[point] = root


def unmount(live: LiveSandbox, path: str) -> None:
    point = mount_point(path, "unmount_image")
    root = live.mounted.get(point)
    if root is None:
        raise InvalidError(f"no image is mounted at {point} (mount_image's path, exactly)")
    in_namespace("umount", str(live.pid), point)
    del live.mounted[point]
    root.release()


def release(live: LiveSandbox) -> None:
    """When the sandbox has exited: its namespace is gone; the host side of its mounts goes too."""
    for root in live.mounted.values():
        root.release()
    live.mounted.clear()
