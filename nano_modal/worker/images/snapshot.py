"""`Sandbox.snapshot_filesystem()`: a sandbox's writable layer becomes an image of its own;
`Sandbox.snapshot_directory()`: one of its directories becomes an image of its contents alone.

A container in an image writes into the upper directory of its private overlay
(rootfs.ImageRoot). The snapshot copies that directory, whiteouts included (overlayfs
records deletions as 0:0 character devices, which keep their meaning when the copy is a
lower layer), into a new layer on top of the image's chain, and records the result as an
image: `Image.from_id(...)` starts new sandboxes and functions from it on this worker.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ...exception import InvalidError
from ..uid_ranges import UIDS_PER_CONTAINER
from .rootfs import ImageRoot
from .store import ImageState, Store, digest, du


def _unshift(tree: Path, base: int) -> None:
    """Owners in a container's uid range (uid_ranges.py) back to the container's own uids, as
    every layer in the store has them (whiteouts, made by host root, stay 0:0)."""

    def unshift(path: str) -> None:
        st = os.lstat(path)
        uid, gid = st.st_uid - base, st.st_gid - base
        if 0 <= uid < UIDS_PER_CONTAINER or 0 <= gid < UIDS_PER_CONTAINER:
            os.chown(path, uid if 0 <= uid < UIDS_PER_CONTAINER else st.st_uid,
                     gid if 0 <= gid < UIDS_PER_CONTAINER else st.st_gid, follow_symlinks=False)  # fmt: skip

    unshift(str(tree))
    for parent, dirs, files in os.walk(tree):
        for name in (*dirs, *files):
            unshift(os.path.join(parent, name))


def snapshot(store: Store, root: ImageRoot, container_id: str) -> str:
    """Copy the container's changes into a layer; returns the new image's id."""
    if root.scratch is None:
        raise InvalidError(f"{container_id} has no root filesystem of its own to snapshot")
    record_path = store.root / "records" / f"{root.image.image_id}.json"
    if not record_path.exists():
        raise InvalidError(f"the image of {container_id} ({root.image.image_id}) is no longer on this worker")
    record = json.loads(record_path.read_text())
    parent = record["layers"][-1] if record["layers"] else record["base"]["key"]
    key = digest("snapshot", parent, container_id, secrets.token_hex(8))  # every snapshot is a new layer
    layer = store.layer_dir(key)
    with store.staging(layer) as tmp:
        # cp -a keeps owners, modes, links and the whiteout devices (the worker runs as root).
        subprocess.run(["cp", "-a", str(root.scratch / "upper"), str(tmp / "diff")], check=True, capture_output=True)
        if root.shift:
            _unshift(tmp / "diff", root.shift)
        store.write_json(
            tmp / "layer.json",
            {"parent": parent, "step": f"snapshot of {container_id}", "state": record["state"], "size": du(tmp)},
        )
    image_id = "im-" + key[:24]
    store.write_json(
        store.root / "records" / f"{image_id}.json",
        {
            **record,
            "image_id": image_id,
            "steps": [*record["steps"], f"snapshot_filesystem of {container_id}"],
            "layers": [*record["layers"], key],
            "last_used": time.time(),
        },
    )
    return image_id


SCRATCH_BASE = {"kind": "scratch", "ref": "scratch (a directory snapshot)"}  # an image of files alone


def _scratch_base(store: Store) -> str:
    """The empty root a directory's image is a layer on (as Image.from_scratch's would be)."""
    key = digest("scratch")
    final = store.base_dir(key)
    if not final.exists():
        with store.staging(final) as tmp:
            (tmp / "rootfs").mkdir()
            store.write_json(tmp / "base.json", {**SCRATCH_BASE, "key": key, "state": asdict(ImageState()), "size": 0})
    return key


def snapshot_directory(store: Store, container_id: str, path: str, fill: Callable[[Path], None], shift: int) -> str:
    """A sandbox's directory as an image whose root holds its contents (`fill(dest)` copies them
    into `dest`, owners as the host sees them: `shift`, the container's uid range, undone)."""
    base = _scratch_base(store)
    key = digest("snapshot_directory", container_id, path, secrets.token_hex(8))
    with store.staging(store.layer_dir(key)) as tmp:
        (tmp / "diff").mkdir()
        fill(tmp / "diff")
        if shift:
            _unshift(tmp / "diff", shift)
        state = asdict(ImageState())
        layer = {"parent": base, "step": f"{path} of {container_id}", "state": state, "size": du(tmp)}
        store.write_json(tmp / "layer.json", layer)
    image_id = "im-" + key[:24]
    record = {
        "image_id": image_id,
        "base": {**SCRATCH_BASE, "key": base},
        "steps": [f"snapshot_directory {path} of {container_id}"],
        "layers": [key],
        "state": state,
        "last_used": time.time(),
    }
    store.write_json(store.root / "records" / f"{image_id}.json", record)
    return image_id
