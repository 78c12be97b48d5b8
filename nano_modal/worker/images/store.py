"""The on-disk image cache: bases, layers, records, and the atomic way things enter it.

    images/bases/<hash>/rootfs/       a full root filesystem   + base.json
    images/layers/<hash>/diff/        one step's overlayfs upper directory + layer.json
    images/records/<image-id>.json    an image's base and layer chain, for `nano-modal image list`
    images/tmp/                       work in progress; renamed into place when complete

Everything is keyed by content (hash of the parent's hash and the step, files included), so
an unchanged step is never built twice and a layer two images share is stored once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ... import config

HASH_CHARS = 32  # directory names stay short: every layer's path goes into one mount option


@dataclass
class ImageState:
    """What the steps so far say about running the image (carried from layer to layer)."""

    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/root"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    python: str = "python3"


@dataclass
class BuiltImage:
    image_id: str
    rootfs: Path  # the base's root filesystem
    layers: list[Path]  # diff directories, bottom first (empty ones left out)
    state: ImageState
    mounts: list[tuple[Path, str]] = field(default_factory=list)  # add_local without copy: (host dir/file, path)


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:HASH_CHARS]


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or config.images_dir()
        for sub in ("bases", "layers", "records", "tmp", "files"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def base_dir(self, key: str) -> Path:
        return self.root / "bases" / key

    def layer_dir(self, key: str) -> Path:
        return self.root / "layers" / key

    @contextlib.contextmanager
    def staging(self, final: Path) -> Iterator[Path]:
        """A fresh directory that becomes `final` only if the block succeeds: a failed or
        interrupted build leaves nothing half-made behind (tmp/ is swept on the next start)."""
        tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}-", dir=self.root / "tmp"))
        try:
            yield tmp
            strip_privileges(tmp)
            with contextlib.suppress(OSError):
                os.rename(tmp, final)  # a concurrent builder of the same key may have won: fine
        finally:
            if tmp.exists():
                remove_tree(tmp)

    def sweep_tmp(self) -> None:
        """Leftovers of builds killed mid-way (their processes are gone: a worker owns the cache)."""
        for entry in (self.root / "tmp").iterdir():
            if time.time() - entry.stat().st_mtime > 3600:
                remove_tree(entry)

    def write_json(self, path: Path, data: dict[str, Any]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)

    def record(self, built: BuiltImage, base: dict[str, Any], steps: list[str], chain: list[str]) -> None:
        path = self.root / "records" / f"{built.image_id}.json"
        self.write_json(
            path,
            {
                "image_id": built.image_id,
                "base": base,
                "steps": steps,
                "layers": chain,
                "state": asdict(built.state),
                "last_used": time.time(),
            },
        )

    def touch(self, image_id: str) -> None:
        """Mark an image used now (its record's mtime; cheaper than rewriting it at every start)."""
        with contextlib.suppress(OSError):
            os.utime(self.root / "records" / f"{image_id}.json")

    def records(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted((self.root / "records").glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                rec = json.loads(path.read_text())
                rec["last_used"] = max(rec.get("last_used", 0), path.stat().st_mtime)
                out.append(rec)
        return out

    def remove_record(self, image_id: str) -> bool:
        path = self.root / "records" / f"{image_id}.json"
        if not path.exists():
            return False
        path.unlink()
        return True

    def prune(self) -> tuple[list[Path], int]:
        """Remove bases and layers no recorded image uses; return them and the bytes freed."""
        used: set[str] = set()
        for rec in self.records():
            used.update(rec.get("layers", []))
            used.add(rec.get("base", {}).get("key", ""))
        removed: list[Path] = []
        freed = 0
        for kind in ("bases", "layers"):
            for entry in (self.root / kind).iterdir():
                if entry.name not in used:
                    freed += du(entry)
                    remove_tree(entry)
                    removed.append(entry)
        # Download caches: files of add_local steps are fetched again from the server when an
        # image needs them, registry blobs from their registry when a base is built again.
        for cache in ("files", "oci-blobs"):
            if (self.root / cache).exists():
                freed += du(self.root / cache)
                remove_tree(self.root / cache)
                (self.root / cache).mkdir()
        return removed, freed


def strip_privileges(tree: Path) -> tuple[int, int]:
    """Take setuid and setgid bits off every file and remove every device node but overlayfs's
    whiteouts (character device 0:0), in what is about to enter the store (every base, layer
    and snapshot passes through staging()). Inside a container they are inert (no_new_privs,
    bwrap binds nodev), but the store is on the host: a setuid-root binary or a raw disk's
    device node from an image must not be there for any host user to find.
    Returns (modes changed, devices removed)."""
    changed = removed = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and not (
                stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
            ):
                os.unlink(path)
                removed += 1
            elif stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID), follow_symlinks=False)
                changed += 1
            elif stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISUID:  # setgid stays: it only picks a group
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~stat.S_ISUID)
                changed += 1
    return changed, removed


def du(path: Path) -> int:
    """Bytes used on disk under `path` (hard links counted once)."""
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=False).stdout
    return int(out.split()[0]) if out.strip() else 0


def remove_tree(path: Path) -> None:
    """rm -rf, also for trees a build left read-only (chmod'ed dirs in a rootfs)."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
