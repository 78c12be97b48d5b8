"""Volumes: a versioned manifest of files per volume, contents in a content-addressed directory.

    <state dir>/volumes/<sha256[:2]>/<sha256>     file contents, shared by every volume

The manifest (path -> blob, size, mode, mtime) lives in the state store. A commit applies
file puts and deletes to the current manifest, file by file, and bumps the version: when
two containers commit the same file, the last commit wins. Contents nobody names any more
are deleted after each change.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from .. import config
from ..proto import api_pb2
from .blobs import BlobWriter
from .control import Invalid, NotFound
from .objects import AlreadyExists, ObjectRegistry, describe
from .store import ObjectRow, Store, VolumeFileRow

VOLUME = api_pb2.OBJECT_KIND_VOLUME
_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")


def normalize(path: str, allow_root: bool = False) -> str:
    """A volume path as stored: relative, '/'-separated, no '.' or '..' parts."""
    if "\0" in path:
        raise Invalid("a volume path cannot contain NUL bytes")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Invalid(f"a volume path cannot contain '..': {path!r}")
    rel = "/".join(parts)
    if not rel and not allow_root:
        raise Invalid(f"{path!r} names the volume's root, not a file")
    return rel


class VolumeBlobs:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        if not _BLOB_ID.match(blob_id):
            raise Invalid(f"not a content id: {blob_id!r}")
        return self.root / blob_id[:2] / blob_id

    def has(self, blob_id: str) -> bool:
        return self.path(blob_id).exists()

    def writer(self) -> BlobWriter:
        # No size limit: a volume's files are the user's data (model weights and the like).
        return BlobWriter(self, limit=None)

    def delete(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            self.path(blob_id).unlink(missing_ok=True)


def _entry(row: VolumeFileRow) -> api_pb2.VolumeFile:
    return api_pb2.VolumeFile(
        path=row.path, blob_id=row.blob_id, size=row.size, mode=row.mode, mtime=row.mtime, type=api_pb2.FILE_TYPE_FILE
    )


class Volumes:
    def __init__(self, store: Store, registry: ObjectRegistry, blobs: VolumeBlobs) -> None:
        self.store = store
        self.registry = registry
        self.blobs = blobs
        registry.on_delete.append(self._collect)

    def _row(self, volume_id: str) -> ObjectRow:
        return self.registry.get(volume_id, VOLUME)

    def _missing(self, row: ObjectRow, path: str) -> NotFound:
        return NotFound(f"{path or '/'}: {config.VOLUME_FILE_NOT_FOUND} {row.name or row.object_id}")

    def manifest(self, volume_id: str) -> tuple[int, list[VolumeFileRow]]:
        return self.store.volume_manifest(self._row(volume_id).object_id)

    def commit(
        self, volume_id: str, puts: list[VolumeFileRow], deletes: list[str], overwrite: bool
    ) -> tuple[int, list[str]]:
        """Apply changes; returns (version, missing blob ids). With missing blobs nothing is applied."""
        row = self._row(volume_id)
        for put in puts:
            put.path = normalize(put.path)
            if not _BLOB_ID.match(put.blob_id) or put.size < 0:
                raise Invalid(f"bad file record for {put.path!r}")
            put.mode = (put.mode & 0o777) or 0o644
        deletes = [normalize(d) for d in deletes]
        missing = sorted({p.blob_id for p in puts if not self.blobs.has(p.blob_id)})
        if missing:
            return 0, missing
        version, files = self.store.volume_manifest(row.object_id)
        current = {f.path for f in files}
        if not overwrite:
            clash = sorted(p.path for p in puts if p.path in current)
            if clash:
                raise AlreadyExists(
                    f"{clash[0]} already exists in {describe(row)}"
                    + (f" (and {len(clash) - 1} more)" if len(clash) > 1 else "")
                    + "; pass force=True to overwrite"
                )
        _check_tree((current - set(deletes)) | {p.path for p in puts}, row)
        version, released = self.store.volume_apply(row.object_id, puts, deletes)
        self._gc(released)
        return version, []

    def list_files(self, volume_id: str, path: str, recursive: bool) -> list[api_pb2.VolumeFile]:
        row = self._row(volume_id)
        base = normalize(path, allow_root=True)
        _, files = self.store.volume_manifest(row.object_id)
        exact = [f for f in files if f.path == base]
        if exact:
            return [_entry(exact[0])]
        prefix = base + "/" if base else ""
        entries: dict[str, api_pb2.VolumeFile] = {}
        for f in files:
            if not f.path.startswith(prefix):
                continue
            rel = f.path[len(prefix) :]
            parts = rel.split("/")
            depth = len(parts) - 1 if recursive else min(1, len(parts) - 1)
            for i in range(1, depth + 1):  # the directories on the way to the file
                dir_path = prefix + "/".join(parts[:i])
                entry = entries.setdefault(
                    dir_path, api_pb2.VolumeFile(path=dir_path, type=api_pb2.FILE_TYPE_DIRECTORY)
                )
                entry.mtime = max(entry.mtime, f.mtime)
            if recursive or len(parts) == 1:
                entries[f.path] = _entry(f)
        if not entries and base:
            raise self._missing(row, base)
        return [entries[k] for k in sorted(entries)]

    def remove(self, volume_id: str, path: str, recursive: bool) -> int:
        row = self._row(volume_id)
        base = normalize(path, allow_root=True)
        _, files = self.store.volume_manifest(row.object_id)
        if base and any(f.path == base for f in files):
            doomed = [base]
        else:
            prefix = base + "/" if base else ""
            doomed = [f.path for f in files if f.path.startswith(prefix)]
            if not doomed:
                if not base:
                    return self.store.volume_manifest(row.object_id)[0]  # removing everything from nothing
                raise self._missing(row, base)
            if not recursive:
                raise Invalid(f"{base or '/'} is a directory in {describe(row)}: pass recursive=True to remove it")
        version, released = self.store.volume_apply(row.object_id, [], doomed)
        self._gc(released)
        return version

    def copy(self, volume_id: str, src_paths: list[str], dst_path: str, recursive: bool) -> int:
        row = self._row(volume_id)
        if not src_paths:
            raise Invalid("copy_files needs at least one source path")
        dst = normalize(dst_path, allow_root=True)
        _, files = self.store.volume_manifest(row.object_id)
        by_path = {f.path: f for f in files}
        dst_is_dir = not dst or any(p.startswith(dst + "/") for p in by_path)
        into = dst_is_dir or dst_path.endswith("/") or len(src_paths) > 1
        puts: list[VolumeFileRow] = []
        for raw in src_paths:
            src = normalize(raw)
            if src in by_path:
                target = posixpath.join(dst, posixpath.basename(src)) if into else dst
                puts.append(_moved(by_path[src], normalize(target)))
                continue
            under = [f for p, f in by_path.items() if p.startswith(src + "/")]
            if not under:
                raise self._missing(row, src)
            if not recursive:
                raise Invalid(f"{src} is a directory in {describe(row)}: pass recursive=True to copy it")
            base = posixpath.join(dst, posixpath.basename(src)) if into else dst
            puts.extend(_moved(f, normalize(posixpath.join(base, f.path[len(src) + 1 :]))) for f in under)
        version, _missing = self.commit(row.object_id, puts, [], overwrite=True)
        return version

    def open_file(self, volume_id: str, path: str) -> Path:
        row = self._row(volume_id)
        rel = normalize(path)
        _, files = self.store.volume_manifest(row.object_id)
        for f in files:
            if f.path == rel:
                return self.blobs.path(f.blob_id)
        if any(f.path.startswith(rel + "/") for f in files):
            raise Invalid(f"{rel} is a directory in {describe(row)}, not a file")
        raise self._missing(row, rel)

    def _collect(self, row: ObjectRow, blob_ids: list[str]) -> None:
        if row.kind == VOLUME:
            self._gc(blob_ids)

    def _gc(self, blob_ids: list[str]) -> None:
        """Delete contents that no volume names any more. A client that was told a blob exists
        and then commits it after it was collected gets it back in `missing_blob_ids`."""
        if blob_ids:
            still = self.store.referenced_blobs(blob_ids)
            self.blobs.delete([b for b in blob_ids if b not in still])


def _moved(f: VolumeFileRow, path: str) -> VolumeFileRow:
    return VolumeFileRow(path, f.blob_id, f.size, f.mode, f.mtime)


def _check_tree(paths: set[str], row: ObjectRow) -> None:
    """A path cannot be both a file and a directory."""
    for path in paths:
        parent = posixpath.dirname(path)
        while parent:
            if parent in paths:
                raise Invalid(f"{path} would be inside {parent}, which is a file in {describe(row)}")
            parent = posixpath.dirname(parent)
