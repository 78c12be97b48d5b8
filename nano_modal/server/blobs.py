"""Content-addressed blob store: a directory of files named by their sha256."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        if not _BLOB_ID.match(blob_id):
            raise ValueError(f"not a blob id: {blob_id!r}")
        return self.root / blob_id[:2] / blob_id

    def has(self, blob_id: str) -> bool:
        return self.path(blob_id).exists()

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

    def read(self, blob_id: str) -> bytes:
        return self.path(blob_id).read_bytes()
