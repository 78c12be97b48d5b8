"""Content-addressed blob store: a directory of files named by their sha256.

Uploads are streamed to a temporary file, hashed on the way, and published by rename once
their content matches their id; one larger than MAX_BLOB is refused (docs/SECURITY.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from .. import config

_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")
ENV_MAX_BLOB = "NANO_MODAL_MAX_BLOB"
# Bytes of one blob (a large argument or result): beyond this an upload is refused, so that
# an untrusted container cannot fill the server's disk with a single call.
MAX_BLOB = int(os.environ.get(ENV_MAX_BLOB) or 4 * 1024**3)


class BlobTooLarge(ValueError):
    pass


class ContentStore(Protocol):
    """A directory of files named by their sha256 (this module's BlobStore, volumes.VolumeBlobs)."""

    root: Path

    def path(self, blob_id: str) -> Path: ...


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        if not _BLOB_ID.match(blob_id):
            raise ValueError(f"not a blob id: {blob_id!r}")
        return self.root / blob_id[:2] / blob_id

    def has(self, blob_id: str) -> bool:
        """Whether the blob is here; if it is, it counts as new again: whoever asks is about
        to name it instead of uploading it, and blob_gc.py spares young blobs."""
        try:
            os.utime(self.path(blob_id))
        except FileNotFoundError:
            return False
        return True

    def put(self, blob_id: str, chunks: list[bytes]) -> None:
        """Store the blob if its content matches its id; atomic, so readers never see half a file."""
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
        if digest.hexdigest() != blob_id:
            raise ValueError(f"blob content does not match its id {blob_id}")
        target = self.path(blob_id)
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, target)

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def read(self, blob_id: str) -> bytes:
        return self.path(blob_id).read_bytes()

    def chunks(self, blob_id: str) -> Iterator[bytes]:
        """The blob's content in chunks (at least one, maybe empty)."""
        with self.path(blob_id).open("rb") as f:
            data = f.read(config.BLOB_CHUNK_SIZE)
            yield data
            while data := f.read(config.BLOB_CHUNK_SIZE):
                yield data


class BlobWriter:
    """One upload, streamed to a temporary file beside its target and hashed as it goes:
    `finish` checks it against its id and publishes it (ValueError if it does not match);
    `abort` drops it. `limit`: bytes past which it is refused (BlobTooLarge); None for none."""

    def __init__(self, blobs: ContentStore, limit: int | None = MAX_BLOB) -> None:
        self.blobs = blobs
        self.limit = limit
        fd, name = tempfile.mkstemp(dir=blobs.root, prefix=".upload-")
        self.file = os.fdopen(fd, "wb")
        self.tmp = Path(name)
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            self.abort()
            raise BlobTooLarge(f"blob larger than the server's limit of {self.limit} bytes ({ENV_MAX_BLOB})")
        self.digest.update(data)
        self.file.write(data)

    def finish(self, blob_id: str) -> None:
        self.file.close()
        if self.digest.hexdigest() != blob_id:
            self.tmp.unlink(missing_ok=True)
            raise ValueError(f"blob content does not match its id {blob_id}")
        target = self.blobs.path(blob_id)
        target.parent.mkdir(exist_ok=True)
        os.replace(self.tmp, target)  # atomic: readers never see half a file

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)
