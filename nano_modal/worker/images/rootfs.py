"""A container's root filesystem from a built image, for the bwrap runtime.

Each container gets an overlayfs: the image's base and layers as read-only lower
directories (shared by every container of the image, nothing copied) and a fresh upper
directory of its own, so it may write anywhere (as in Modal) and its writes vanish with it.
The SDK's source and its runtime packages (deps.py) are bound read-only; the files of
`add_local_*` steps without copy=True are bound read-only at their paths.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ... import config
from ..base import ENTRYPOINT_ARGS, PREBOOT_ARGS, SDK_ROOT
from ..mounts import detach, idmapped_bind
from .overlay import mount_overlay, unmount
from .store import BuiltImage

if TYPE_CHECKING:
    from ..disks import ContainerDisks
    from ..uid_ranges import UidRange

# Run the container entrypoint with the SDK's packages LAST on sys.path: the image's own win
# (unless the SDK cannot run on them: container/_image_deps.py).
BOOTSTRAP = (
    f"from nano_modal.container._image_deps import place; place({config.IMAGE_DEPS_DIR!r}); "
    "from nano_modal.container.entrypoint import main; main()"
)
# The same, booted ahead of need (worker/preboot.py): it waits on stdin for its environment.
PREBOOT_BOOTSTRAP = BOOTSTRAP.replace("container.entrypoint", "container.preboot")


SCRATCH_PREFIX = "nano-modal-root-"


def sweep_mounts() -> None:
    """Unmount and remove the container roots of workers that died without cleaning up."""
    for scratch in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        pid = scratch.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            unmount(scratch / "merged")
            _detach_below(scratch)
            detach(str(scratch))  # its disk (disks.py), if it had one
            shutil.rmtree(scratch, ignore_errors=True)


def _detach_below(scratch: Path) -> None:
    """The idmapped layers of a container root in a uid range (mount), after its overlay."""
    for mount_point in scratch.glob("layers/*"):
        detach(str(mount_point))


@dataclass
class ImageRoot:
    """What a runtime needs to start a container in an image."""

    image: BuiltImage
    deps: Path  # the runtime packages for the image's Python
    scratch: Path | None = None  # upper/work/merged of this container's overlay, once mounted
    shift: int = 0  # the host uid of its upper directory's root (0, or its uid range's: mount)
    disks: ContainerDisks | None = None  # whose disk its scratch is mounted on, if any

    @property
    def merged(self) -> Path:
        assert self.scratch is not None
        return self.scratch / "merged"

    def mount(
        self, container_id: str, uids: UidRange | None = None, disk: tuple[ContainerDisks, int] | None = None
    ) -> Path:
        """Mount this container's root. With `uids` (a container's own range, uid_ranges.py) the
        layers are idmapped through its user namespace, so the image's files that host root owns
        are the container root's, and the upper directory is the range root's: what the container
        writes is stored shifted into its range (snapshot() shifts it back)."""
        # The worker's pid in the name: a later worker unmounts what a crashed one left (sweep_mounts).
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-{container_id}-"))
        if disk is not None:  # what it writes is bounded by a disk of its own (disks.py), as its workdir is
            self.disks = disk[0]
            self.disks.attach(self.scratch, disk[1])
        upper, work = self.scratch / "upper", self.scratch / "work"
        upper.mkdir()
        work.mkdir()
        lowers = [*reversed(self.image.layers), self.image.rootfs]
        if uids is not None:
            # (Not the upper directory too: overlayfs writes it with the mounter's credentials,
            # and host root has no uid in the container's map: it would mount read-only.)
            self.shift = uids.uid
            for i, layer in enumerate(lowers):
                lowers[i] = self.scratch / "layers" / str(i)
                lowers[i].mkdir(parents=True)
                idmapped_bind(str(layer), str(lowers[i]), uids.userns, read_only=True)
            for path in (self.scratch, upper):  # bwrap binds the root as the range's root
                os.chown(path, uids.uid, uids.uid)
        mount_overlay(lowers, self.merged, upper, work)
        return self.merged

    def fresh(self) -> ImageRoot:
        """Another container's root in the same image (not mounted yet)."""
        return ImageRoot(self.image, self.deps)  # (and no shift: that is the next container's range)

    def release(self) -> None:
        if self.scratch is not None:
            unmount(self.merged)
            _detach_below(self.scratch)
            if self.disks is not None:
                self.disks.remove(self.scratch)
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def binds(self) -> list[tuple[str, str]]:
        """(host path, container path) pairs to bind read-only on top of the root."""
        out = [(str(Path(SDK_ROOT) / "nano_modal"), f"{config.IMAGE_SDK_DIR}/nano_modal")]
        out.append((str(self.deps), config.IMAGE_DEPS_DIR))
        out += [(str(source), remote) for source, remote in self.image.mounts]
        return out

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """The container's environment: the image's, then nano-modal's own variables."""
        state = self.image.state
        out = {k: v for k, v in env.items() if k not in ("PATH", "PYTHONPATH", "HOME")}
        out.update(state.env)
        out["HOME"] = "/root"
        # /root holds add_local_python_source modules (as in Modal); the SDK's source comes first,
        # then the image's own PYTHONPATH (`.env({"PYTHONPATH": ...})`, a Dockerfile's ENV).
        paths = [config.IMAGE_SDK_DIR, "/root", state.env.get("PYTHONPATH", "")]
        out["PYTHONPATH"] = ":".join(p for p in paths if p)
        return out

    def argv(self, python_args: tuple[str, ...] = ()) -> list[str]:
        """The function entrypoint, or (a sandbox) the given arguments of the image's Python, with
        paths into the worker's SDK turned into where the SDK is bound inside the image."""
        if not python_args or python_args == ENTRYPOINT_ARGS:
            return [self.image.state.python, "-c", BOOTSTRAP]
        if python_args == PREBOOT_ARGS:
            return [self.image.state.python, "-c", PREBOOT_BOOTSTRAP]
        sdk = str(Path(SDK_ROOT) / "nano_modal")
        inside = [
            a.replace(sdk, f"{config.IMAGE_SDK_DIR}/nano_modal", 1) if a.startswith(sdk) else a for a in python_args
        ]
        return [self.image.state.python, *inside]
