"""modal.Volume: nano-modal's volumes (server/volumes.py), the same ones the nano_modal SDK sees.

Volumes are offered to the client as Modal's "v1" volumes (VolumeMetadata.version), unless it
asks for v2 (volumes_v2.py serves those methods onto the same volumes). v1's methods map one
to one onto nano-modal's: uploads are MountPutFile (into the blob store, by
sha256) then VolumePutFiles, which moves the contents into the volume store and commits them.
Downloads are VolumeGetFile2: one signed URL of the server's HTTP gateway per 8 MiB block
of the file (Modal's block size), as Modal's cloud gives S3 URLs.

Inside a container, `Volume.commit()`/`reload()` (and the commit at exit) never reach the
server: the container syncs its mounted copy itself (container/modal_volumes.py). A
VolumeCommit or VolumeReload that does reach the server comes from a process that does not
mount the volume, and is refused as Modal refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ...proto import api_pb2 as npb
from ..object_service import ObjectPlane
from ..objects import InUse
from ..store import ObjectRow, VolumeFileRow
from ..volumes import VolumeBlobs
from .auth import Refused
from .base import ENVIRONMENT, Call, ServiceBase

BLOCK_SIZE = 8 * 1024 * 1024  # Modal's volume block size (modal._utils.blob_utils.BLOCK_SIZE)
LIST_PAGE = 1000  # entries per VolumeListFiles answer
ROUTE = "/_/modal-volume-blocks/{blob_id}/{index}"  # under /_/, the gateway's own pages


def _signature(admin_token: str, blob_id: str, index: int) -> str:
    return hmac.new(admin_token.encode(), f"volume-block:{blob_id}:{index}".encode(), hashlib.sha256).hexdigest()


def block_url(web_base_url: str, admin_token: str, blob_id: str, index: int) -> str:
    return f"{web_base_url}/_/modal-volume-blocks/{blob_id}/{index}?sig={_signature(admin_token, blob_id, index)}"


def block_routes(contents: VolumeBlobs, admin_token: str) -> list[BaseRoute]:
    """The gateway's route for downloads of volume files, one block per GET."""

    async def handle(request: Request) -> Response:
        blob_id = request.path_params["blob_id"]
        try:
            index = int(request.path_params["index"])
        except ValueError:
            return PlainTextResponse("nano-modal: not a block index\n", status_code=400)
        if not hmac.compare_digest(request.query_params.get("sig", ""), _signature(admin_token, blob_id, index)):
            return PlainTextResponse("nano-modal: this volume block URL's signature is not valid\n", status_code=403)
        try:
            with contents.path(blob_id).open("rb") as f:
                f.seek(index * BLOCK_SIZE)
                data = f.read(BLOCK_SIZE)
        except (FileNotFoundError, ValueError):
            return PlainTextResponse(f"nano-modal: no volume content {blob_id}\n", status_code=404)
        return Response(data, media_type="application/octet-stream")

    return [Route(ROUTE, handle, methods=["GET"])]


class VolumeRpcs(ServiceBase):
    objects: ObjectPlane
    web_base_url: str

    async def VolumeGetOrCreate(self, request: Any, call: Call) -> Any:
        row = self.named_object(npb.OBJECT_KIND_VOLUME, request, call.workspace)
        # The version asked for: nano-modal serves both method sets onto the same volumes (volumes_v2.py).
        v2 = self.pb.VOLUME_FS_VERSION_V2
        version = v2 if request.version == v2 else self.pb.VOLUME_FS_VERSION_V1
        return self.pb.VolumeGetOrCreateResponse(
            volume_id=row.object_id,
            version=version,
            metadata=self.pb.VolumeMetadata(name=row.name or "", version=version),
        )

    async def VolumeList(self, request: Any, call: Call) -> Any:
        """Named volumes, newest first, a page at a time (the client asks again with the
        creation time of the last one it got)."""
        rows = self.objects.registry.list_named(
            npb.OBJECT_KIND_VOLUME, request.environment_name or ENVIRONMENT, call.workspace
        )
        before = request.pagination.created_before
        rows = sorted((r for r in rows if not before or r.created_at < before), key=lambda r: -r.created_at)
        limit = request.pagination.max_objects or 100
        return self.pb.VolumeListResponse(
            items=[self._list_item(r) for r in rows[:limit]], environment_name=request.environment_name or ENVIRONMENT
        )

    def _list_item(self, row: ObjectRow) -> Any:
        metadata = self.pb.VolumeMetadata(
            name=row.name or "",
            version=self.pb.VOLUME_FS_VERSION_V1,
            creation_info=self.pb.CreationInfo(created_at=row.created_at),
        )
        return self.pb.VolumeListItem(
            label=row.name or "", volume_id=row.object_id, created_at=row.created_at, metadata=metadata
        )

    async def VolumeDelete(self, request: Any, call: Call) -> Any:
        call.admin()
        try:
            self.objects.registry.delete(npb.OBJECT_KIND_VOLUME, "", "", request.volume_id, allow_missing=False)
        except InUse as exc:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION, f"nano-modal: {exc}") from exc
        return self.proto.empty()

    async def VolumeRename(self, request: Any, call: Call) -> Any:
        call.admin()
        row = self.objects.registry.get(request.volume_id, npb.OBJECT_KIND_VOLUME)
        if not row.name:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "nano-modal: an ephemeral volume has no name to change")
        self.objects.registry.rename(row.kind, row.name, row.environment, request.name, workspace=row.workspace)
        return self.proto.empty()

    async def VolumeHeartbeat(self, request: Any, call: Call) -> Any:
        self.objects.registry.heartbeat(request.volume_id)
        return self.proto.empty()

    async def VolumeListFiles(self, request: Any, call: Call) -> AsyncIterator[Any]:
        entries = self.objects.volumes.list_files(request.volume_id, request.path, request.recursive)
        kinds = {
            npb.FILE_TYPE_FILE: self.pb.FileEntry.FileType.FILE,
            npb.FILE_TYPE_DIRECTORY: self.pb.FileEntry.FileType.DIRECTORY,
        }
        converted = [
            self.pb.FileEntry(path=e.path, type=kinds.get(e.type, 0), mtime=int(e.mtime), size=e.size) for e in entries
        ]
        if request.max_entries:
            converted = converted[: request.max_entries]
        for start in range(0, len(converted), LIST_PAGE):
            yield self.pb.VolumeListFilesResponse(entries=converted[start : start + LIST_PAGE])

    async def VolumeGetFile2(self, request: Any, call: Call) -> Any:
        contents: Path = self.objects.volumes.open_file(request.volume_id, request.path)
        size = contents.stat().st_size
        start = min(request.start, size)
        length = size - start if not request.len else min(request.len, size - start)
        first, end = start // BLOCK_SIZE, (start + length + BLOCK_SIZE - 1) // BLOCK_SIZE
        blob_id = contents.name  # the volume store names each content by its sha256
        urls = [block_url(self.web_base_url, self.admin_token, blob_id, i) for i in range(first, max(end, first))]
        return self.pb.VolumeGetFile2Response(get_urls=urls, size=size, start=start, len=length)

    async def VolumePutFiles(self, request: Any, call: Call) -> Any:
        """Files sent with MountPutFile (in the blob store, by sha256) become volume files."""
        call.admin()  # a container commits its mounted copy through nano-modal's own methods
        puts = [self._adopt(f) for f in request.files]
        _, missing = self.objects.volumes.commit(
            request.volume_id, puts, [], overwrite=not request.disallow_overwrite_existing_files
        )
        if missing:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION, f"nano-modal: volume files not uploaded: {missing[:3]}")
        return self.proto.empty()

    def _adopt(self, file: Any) -> VolumeFileRow:
        """Copy an uploaded file's content from the blob store into the volume store."""
        digest = file.sha256_hex
        contents = self.objects.volumes.blobs
        if not contents.has(digest):
            source = self.blobs.path(digest) if self.blobs.has(digest) else None
            if source is None:
                raise Refused(grpc.StatusCode.FAILED_PRECONDITION, f"nano-modal: {file.filename} was not uploaded")
            writer = contents.writer()
            try:
                with source.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        writer.write(chunk)
            except BaseException:
                writer.abort()
                raise
            writer.finish(digest)
        size = contents.path(digest).stat().st_size
        return VolumeFileRow(file.filename, digest, size, file.mode, time.time())

    async def VolumeRemoveFile(self, request: Any, call: Call) -> Any:
        call.admin()
        self.objects.volumes.remove(request.volume_id, request.path, request.recursive)
        return self.proto.empty()

    async def VolumeCopyFiles(self, request: Any, call: Call) -> Any:
        call.admin()
        self.objects.volumes.copy(request.volume_id, list(request.src_paths), request.dst_path, request.recursive)
        return self.proto.empty()

    async def VolumeCommit(self, request: Any, call: Call) -> Any:
        raise Refused(grpc.StatusCode.FAILED_PRECONDITION, _OUTSIDE.format(what="commit"))

    async def VolumeReload(self, request: Any, call: Call) -> Any:
        raise Refused(grpc.StatusCode.FAILED_PRECONDITION, _OUTSIDE.format(what="reload"))


_OUTSIDE = "nano-modal: Volume.{what}() works only inside a container that mounts the volume"
