"""Mounts (the app's files), images and the blob store as the Modal client sees them.

A mount is a manifest {path in the container: [sha256, mode]}; its id is "mo-" + the sha256
of that manifest, which is kept in nano-modal's content-addressed blob store like the files
themselves (MountPutFile sends each file with its sha256), so both outlive the server.

Images: ImageGetOrCreate translates each layer the client defines into a nano-modal
ImageSpec (images.py) and reports it built at once: the worker builds it before the first
container of a function that uses it, and the build's log reaches the client with the app's
logs (AppGetLogs), as nano-modal's own `run` shows it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import grpc

from ...proto import api_pb2 as npb
from .auth import Refused
from .base import Call, ServiceBase
from .blobs import blob_digest
from .images import LayerCache, load_spec, python_version_info, store_spec, translate

IMAGE_BUILDER_VERSION = "2025.06"  # one the 1.6 client accepts (it refuses versions it does not know)


def not_served(feature: str) -> Refused:
    return Refused(grpc.StatusCode.UNIMPLEMENTED, f"nano-modal does not serve {feature} yet")


class MountRpcs(ServiceBase):
    image_layers: LayerCache  # ImageGetOrCreate requests already translated

    async def MountGetOrCreate(self, request: Any, call: Call) -> Any:
        call.admin()
        manifest = {f.filename: [f.sha256_hex, f.mode] for f in request.files}
        missing = [f.filename for f in request.files if not self.blobs.has(f.sha256_hex)]
        if missing:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION, f"nano-modal: mount files not uploaded: {missing[:3]}")
        data = json.dumps(manifest, sort_keys=True).encode()
        digest = hashlib.sha256(data).hexdigest()
        self.blobs.put(digest, [data])
        return self.pb.MountGetOrCreateResponse(
            mount_id=f"mo-{digest}", handle_metadata=self.pb.MountHandleMetadata(content_checksum_sha256_hex=digest)
        )

    async def MountBatchedCheckExistence(self, request: Any, call: Call) -> Any:
        missing = [h for h in request.sha256_hex_hashes if not self.blobs.has(h)]
        return self.pb.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=missing)

    async def MountPutFile(self, request: Any, call: Call) -> Any:
        call.admin()
        if request.data_blob_id:  # uploaded through BlobCreate: a blob id is its content's sha256
            if blob_digest(request.data_blob_id) != request.sha256_hex or not self.blobs.has(request.sha256_hex):
                raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"nano-modal: {request.data_blob_id} is not that file")
            return self.pb.MountPutFileResponse(exists=True)
        if not request.HasField("data"):  # "do you have it?": the client uploads if not
            return self.pb.MountPutFileResponse(exists=self.blobs.has(request.sha256_hex))
        try:
            self.blobs.put(request.sha256_hex, [request.data])
        except ValueError as exc:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"nano-modal: {exc}") from exc
        return self.pb.MountPutFileResponse(exists=True)

    async def ImageGetOrCreate(self, request: Any, call: Call) -> Any:
        key = self.image_layers.key(request)
        cached = self.image_layers.get(key, self.blobs)
        if cached is not None:
            image_id, spec = cached
        else:  # in a thread: a layer that copies files writes them out and tars them
            spec = await asyncio.to_thread(translate, self.pb, request, self.blobs)
            image_id = store_spec(self.blobs, spec)
            self.image_layers.put(key, image_id)
        return self.pb.ImageGetOrCreateResponse(
            image_id=image_id,
            result=self.pb.GenericResult(status=self.pb.GenericResult.GENERIC_STATUS_SUCCESS),
            metadata=image_metadata(self.pb, spec),
        )

    async def ImageJoinStreaming(self, request: Any, call: Call) -> Any:
        yield self.pb.ImageJoinStreamingResponse(
            result=self.pb.GenericResult(status=self.pb.GenericResult.GENERIC_STATUS_SUCCESS),
            eof=True,
            metadata=image_metadata(self.pb, load_spec(self.blobs, request.image_id)),
        )


def image_metadata(pb: Any, spec: npb.ImageSpec | None) -> Any:
    """What the client is told of an image: its Python, and a builder version it knows."""
    import platform

    return pb.ImageMetadata(
        python_version_info=python_version_info(spec, platform.python_version()),
        image_builder_version=IMAGE_BUILDER_VERSION,
    )
