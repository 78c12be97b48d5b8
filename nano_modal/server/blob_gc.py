"""Blobs nothing names any more are deleted, so that the blob directory stays bounded.

A blob (a large argument or result, a function's code, an image's `add_local` files, a
Modal client's mount files and bundles) is live while something the server keeps names it:

- a stored input or output (its blob column, or a Modal payload's `bl-<sha256>` reference),
  for as long as calls are kept (config.OUTPUT_RETENTION);
- the definition of a function of an app that is not stopped (sandboxes' too, in memory),
  every deployment's spec (a rollback runs an old version's code again) and every image
  published by name (`Image.publish`: its `add_local` files);
- a live manifest: a small JSON blob (a Modal bundle, a mount's file list) names others.

Anything else is collected once it is older than BLOB_GRACE: a client uploads a blob first
and names it in a call afterwards, so a young blob may be about to be named. Asking whether
a blob exists (BlobHas: "upload it unless you have it") makes it young again (blobs.py), so
the answer "yes" stays true for a grace period. Abandoned partial uploads go the same way.
Volumes' blobs are not here: volumes.py deletes them with the files that name them.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .blobs import BlobStore

log = logging.getLogger("nano_modal.server")

ENV_BLOB_GRACE = "NANO_MODAL_BLOB_GRACE"
# Seconds a blob is kept whatever names it: longer than any upload-then-call gap of a client
# (a map uploads its large arguments, then puts their inputs) and than a slow image build.
BLOB_GRACE = float(os.environ.get(ENV_BLOB_GRACE) or 3600)
# Seconds between two collections: deleting is never urgent, and a pass scans every kept row.
COLLECT_EVERY = 600.0
# Bytes of a blob read to find the names in it when it is a manifest (a Modal bundle or a
# mount's file list: JSON); larger blobs are payloads, never manifests.
MANIFEST_MAX = 4 * 1024 * 1024

_SHA256 = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_MODAL_BLOB_REF = re.compile(rb"bl-([0-9a-f]{64})")  # Modal's payloads name their large parts so


class BlobReferences(Protocol):
    def blob_references(self) -> Iterator[tuple[str, bytes]]: ...


@dataclass
class Collected:
    kept: int  # blobs still named, or young
    deleted: int
    freed_bytes: int


def names_in(kind: str, value: bytes) -> Iterable[bytes]:
    """The blob ids a stored value names: a blob column is one; a definition (protobuf) holds
    them as plain hex strings; a payload names one only as Modal's `bl-` reference (nano-modal
    keeps a large payload's id in the blob column, so a pickle's bytes are not read as names)."""
    if kind == "blob_id":
        return [value]
    if kind == "payload":
        return _MODAL_BLOB_REF.findall(value) if b"bl-" in value else []
    return _SHA256.findall(value)


def live_blobs(store: BlobReferences, blobs: BlobStore, in_memory: Iterable[bytes]) -> set[str]:
    """Ids of the blobs something names, manifests followed."""
    named: set[bytes] = set()
    for kind, value in store.blob_references():
        named.update(names_in(kind, value))
    for definition in in_memory:
        named.update(_SHA256.findall(definition))
    live = {n.decode() for n in named}
    unread = list(live)
    while unread:  # a manifest names more blobs, which may be manifests too
        path = _existing(blobs, unread.pop())
        if path is None or path.stat().st_size > MANIFEST_MAX:
            continue
        head = path.read_bytes()
        if head[:1] not in (b"{", b"["):
            continue
        for found in {n.decode() for n in _SHA256.findall(head)} - live:
            live.add(found)
            unread.append(found)
    return live


def _existing(blobs: BlobStore, blob_id: str) -> Path | None:
    try:
        path = blobs.path(blob_id)
    except ValueError:
        return None
    return path if path.is_file() else None


def collect(
    store: BlobReferences, blobs: BlobStore, in_memory: Iterable[bytes] = (), grace: float = BLOB_GRACE
) -> Collected:
    """Delete the blobs (and abandoned partial uploads) nothing names that are older than `grace`."""
    # The files are listed before the references are read: a blob uploaded and named during
    # the scan is either not listed or younger than the grace period.
    cutoff = time.time() - grace
    candidates = [p for p in blobs.root.rglob("*") if p.is_file()]
    live = live_blobs(store, blobs, in_memory)
    kept = deleted = freed = 0
    for path in candidates:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.name in live or stat.st_mtime >= cutoff:
            kept += 1
            continue
        path.unlink(missing_ok=True)
        deleted += 1
        freed += stat.st_size
    return Collected(kept, deleted, freed)


def collect_logged(store: BlobReferences, blobs: BlobStore, in_memory: list[bytes]) -> None:
    """One collection, for a thread of the server's housekeeping (`in_memory`: the definitions
    the server holds, taken on its event loop); a failure is logged, never raised."""
    try:
        done = collect(store, blobs, in_memory)
    except Exception:
        log.exception("blob collection failed; the next pass tries again")
        return
    if done.deleted:
        freed_mib = done.freed_bytes / 2**20
        log.info("blobs: deleted %d unreferenced (%.1f MiB), kept %d", done.deleted, freed_mib, done.kept)
