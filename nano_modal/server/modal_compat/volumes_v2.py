"""Modal's "v2" volumes (`Volume.from_name(..., version=2)`, `modal volume create --version 2`).

nano-modal has one kind of volume (server/volumes.py); the v2 methods are served onto the
same volumes as the v1 ones, so a file written either way is seen by both, by the nano_modal
SDK and by containers. What differs is the upload: a v2 client cuts each file into 8 MiB
blocks and names each by its sha256; VolumePutFiles2 answers with a signed PUT URL per block
the server does not hold yet (blocks go into the blob store, by sha256), and once all are
there assembles each file from its blocks into the volume store and commits the lot.

The version a volume reports is the one its caller asked for (nano-modal keeps no per-volume
version): v2 when asked for v2, v1 otherwise, so the client uses the matching methods.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ..blobs import BlobStore
from ..store import VolumeFileRow
from .auth import Refused
from .base import Call
from .volumes import VolumeRpcs

SHA256_BYTES = 32  # a block's name: the sha256 of its content
PUT_ROUTE = "/_/modal-volume-blocks/put/{digest}"  # under /_/, the gateway's own pages
_PUT_PURPOSE = "volume-block-put"  # signs upload URLs apart from download ones (volumes.py)


def _signature(admin_token: str, digest: str) -> str:
    return hmac.new(admin_token.encode(), f"{_PUT_PURPOSE}:{digest}".encode(), hashlib.sha256).hexdigest()


def block_put_url(web_base_url: str, admin_token: str, digest: str) -> str:
    return f"{web_base_url}/_/modal-volume-blocks/put/{digest}?sig={_signature(admin_token, digest)}"


def block_put_routes(blobs: BlobStore, admin_token: str) -> list[BaseRoute]:
    """The gateway's route for v2 block uploads: one block per PUT, checked against its sha256."""

    async def handle(request: Request) -> Response:
        digest = request.path_params["digest"]
        if not hmac.compare_digest(request.query_params.get("sig", ""), _signature(admin_token, digest)):
            return PlainTextResponse("nano-modal: this volume block URL's signature is not valid\n", status_code=403)
        writer = blobs.writer()
        try:
            async for chunk in request.stream():
                writer.write(chunk)
            writer.finish(digest)
        except ValueError as exc:  # not the block's content, or past the blob limit
            writer.abort()
            return PlainTextResponse(f"nano-modal: {exc}\n", status_code=400)
        return Response(digest.encode(), media_type="application/octet-stream")  # the client echoes it back

    return [Route(PUT_ROUTE, handle, methods=["PUT"])]


class VolumeV2Rpcs(VolumeRpcs):
    async def VolumePutFiles2(self, request: Any, call: Call) -> Any:
        call.admin()  # as VolumePutFiles: a container commits its mounted copy through nano-modal's own methods
        if any(len(block.contents_sha256) != SHA256_BYTES for file in request.files for block in file.blocks):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "nano-modal: each volume block is named by its sha256")
        missing = [
            self.pb.VolumePutFiles2Response.MissingBlock(
                file_index=f, block_index=b, put_url=block_put_url(self.web_base_url, self.admin_token, digest)
            )
            for f, file in enumerate(request.files)
            for b, digest in enumerate(block.contents_sha256.hex() for block in file.blocks)
            if not self.blobs.has(digest)
        ]
        if missing:
            return self.pb.VolumePutFiles2Response(missing_blocks=missing)
        puts = [self._assemble(file) for file in request.files]
        self.objects.volumes.commit(
            request.volume_id, puts, [], overwrite=not request.disallow_overwrite_existing_files
        )
        return self.pb.VolumePutFiles2Response()

    def _assemble(self, file: Any) -> VolumeFileRow:
        """One volume file from its blocks (in the blob store), into the volume store."""
        writer = self.objects.volumes.blobs.writer()
        try:
            for block in file.blocks:
                with self.blobs.path(block.contents_sha256.hex()).open("rb") as f:
                    while chunk := f.read(1 << 20):
                        writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        if writer.size != file.size:
            writer.abort()
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"nano-modal: {file.path}'s blocks hold {writer.size} bytes, not the {file.size} it declares",
            )
        digest = writer.digest.hexdigest()
        writer.finish(digest)
        mode = file.mode if file.HasField("mode") else 0o644
        return VolumeFileRow(file.path, digest, file.size, mode, time.time())

    # The rest take the v1 methods' requests' fields, and do the same.
    async def VolumeListFiles2(self, request: Any, call: Call) -> AsyncIterator[Any]:
        async for page in self.VolumeListFiles(request, call):
            yield self.pb.VolumeListFiles2Response(entries=page.entries)

    # The same methods (not wrappers): the response-type check reads each served method's source.
    VolumeRemoveFile2 = VolumeRpcs.VolumeRemoveFile
    VolumeCopyFiles2 = VolumeRpcs.VolumeCopyFiles
