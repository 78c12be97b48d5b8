"""The files a Modal client's image layer copies in (COPY), as nano-modal `add_local` steps.

Modal's client sends what COPY reads in two ways, both relative to the build context's root:

- `context_files`: small files inline (`pip_install_from_requirements` sends the requirements
  file as `/.requirements.txt`, `poetry_install_from_file` its pyproject and lock...);
- `context_mount_id`: a mount uploaded beforehand (MountPutFile / MountGetOrCreate), whose
  paths are the context's. `add_local_dir(copy=True)` is a mount of the directory at its remote
  path plus `COPY . /`; COPY in `dockerfile_commands`/`from_dockerfile` is a mount of the
  local context directory holding the files its COPY lines name.

The context is written out to a scratch directory, nano_modal/dockerfile.py reads the COPY
lines against it (as nano-modal's own `dockerfile_commands` do: globs, directory rules,
.dockerignore), and each copy becomes the `add_local` step with `copy=True` that
nano-modal's SDK sends for `add_local_*(copy=True)`: a deterministic tar of what it copies,
kept in the blob store under its sha256 (the step's blob and content hash), which the
worker unpacks into the layer. Same files, same tar, same layer id: a rerun is a cache hit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..._image_parts import tar_local
from ...exception import InvalidError
from ...image import Step
from ...proto import api_pb2 as npb
from ..blobs import BlobStore


def mount_files(blobs: BlobStore, mount_id: str) -> dict[str, list[Any]]:
    """A mount's manifest: {path in the container: [sha256, mode]}."""
    digest = mount_id.removeprefix("mo-")
    try:
        files: dict[str, list[Any]] = json.loads(blobs.read(digest))
    except (ValueError, FileNotFoundError):
        return {}  # a mount this server never made (e.g. Modal's own client mount): nothing to add
    return files


@contextlib.contextmanager
def build_context(image: Any, blobs: BlobStore) -> Iterator[Path]:
    """A scratch directory holding the layer's build context (its mount's files, then its
    inline context files), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="nano-modal-context-") as scratch:
        root = Path(scratch).resolve()  # as the Dockerfile parser resolves it
        for name, (sha256, mode) in mount_files(blobs, image.context_mount_id).items():
            try:
                data = blobs.read(sha256)
            except FileNotFoundError:
                raise InvalidError(f"the build context's file {name!r} was never uploaded") from None
            _write(root, name, data, mode)
        for context_file in image.context_files:
            _write(root, context_file.filename, context_file.data, 0o644)
        yield root


def copy_step(step: Step, context: Path, blobs: BlobStore) -> npb.ImageStep:
    """The `add_local` (copy) step of a Dockerfile COPY `step` read against `context`."""
    source, dest = Path(step.args[0]), step.args[1]
    if dest.endswith("/") and source.is_file():
        dest += source.name
    ignore = json.loads(dict(step.options).get("ignore") or "[]")  # the context's .dockerignore
    archive = tar_local(source, ignore)
    digest = hashlib.sha256(archive).hexdigest()
    blobs.put(digest, [archive])
    options = {"copy": "1"}
    if source.is_file():
        options["file"] = "1"
    if ignore:
        options["ignore"] = json.dumps(ignore)
    # the source as the context names it (never the scratch directory's path: the layer id would vary)
    name = source.relative_to(context).as_posix()
    return npb.ImageStep(kind="add_local", args=[name, dest], options=options, blob_id=digest, content_hash=digest)


def _write(root: Path, name: str, data: bytes, mode: int) -> None:
    target = _inside(root, name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:  # e.g. a file and a directory of the same name
        raise InvalidError(f"the build context's file {name!r} cannot be written: {exc.strerror}") from None
    os.chmod(target, (mode or 0o644) & 0o7777)


def _inside(root: Path, name: str) -> Path:
    """`name` (a context path, absolute or not) under `root`; never outside it."""
    parts = [p for p in PurePosixPath("/", name).parts[1:] if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidError(f"context path {name!r} is not a file inside the build context")
    return root.joinpath(*parts)
