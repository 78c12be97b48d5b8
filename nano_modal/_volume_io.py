"""Moving volume contents between this machine and the server: uploads, downloads, commits.

Contents are content-addressed (sha256), so a file the server already holds, in any
volume, is never sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from . import config
from .client import Client
from .exception import InvalidError
from .proto import api_pb2


@dataclass
class Source:
    """Where an upload's bytes come from: a local file, or bytes in memory."""

    path: Path | None = None
    data: bytes | None = None


def hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(config.VOLUME_CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


async def upload(client: Client, blob_id: str, source: Source) -> None:
    """Send one content to the server unless it has it already."""
    if (await client.stub.VolumeBlobHas(api_pb2.BlobHasRequest(blob_id=blob_id))).exists:
        return

    async def chunks() -> AsyncIterator[api_pb2.BlobChunk]:
        first = True
        if source.data is not None:
            step = config.VOLUME_CHUNK_SIZE
            for start in range(0, max(len(source.data), 1), step):
                yield api_pb2.BlobChunk(blob_id=blob_id if first else "", data=source.data[start : start + step])
                first = False
            return
        assert source.path is not None
        with source.path.open("rb") as f:
            while True:
                data = f.read(config.VOLUME_CHUNK_SIZE)
                if data or first:
                    yield api_pb2.BlobChunk(blob_id=blob_id if first else "", data=data)
                first = False
                if not data:
                    return

    await client.stub.put_blob_stream(chunks(), method="VolumeBlobPut")


async def download(client: Client, blob_id: str, target: Path, mode: int, mtime: float) -> None:
    """Fetch one content into `target`, atomically (written beside it, then renamed over it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".nm-download-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in client.stub.stream("VolumeBlobGet", api_pb2.BlobGetRequest(blob_id=blob_id)):
                f.write(chunk.data)
        os.chmod(tmp, mode & 0o777 or 0o644)
        if mtime:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def commit(
    client: Client,
    volume_id: str,
    puts: list[api_pb2.VolumeFile],
    deletes: list[str],
    sources: dict[str, Source],
    overwrite: bool = True,
) -> int:
    """Upload what the server lacks, then apply the changes; returns the new version."""
    await asyncio.gather(*(upload(client, blob_id, source) for blob_id, source in sources.items()))
    version = 0
    step = config.VOLUME_MAX_COMMIT_FILES
    for start in range(0, max(len(puts), len(deletes), 1), step):
        request = api_pb2.VolumeCommitRequest(
            volume_id=volume_id,
            puts=puts[start : start + step],
            deletes=deletes[start : start + step],
            overwrite=overwrite,
        )
        for _ in range(3):
            response = await client.stub.VolumeCommit(request)
            if not response.missing_blob_ids:
                version = int(response.version)
                break
            # Collected between our upload and this commit (another commit dropped the last use): resend.
            for blob_id in response.missing_blob_ids:
                if blob_id not in sources:
                    raise InvalidError(f"the server lost content {blob_id} and this client cannot resend it")
                await upload(client, blob_id, sources[blob_id])
        else:
            raise InvalidError(f"could not commit to volume {volume_id}: contents kept disappearing")
    return version
