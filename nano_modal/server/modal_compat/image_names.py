"""`Image.from_id`, `Image.publish` and `Image.from_name` of Modal's client.

An image id the client holds is a layer ImageGetOrCreate made (`im-<sha256>` of its
ImageSpec, images.py), so ImageFromId only checks it is one. Publishing stores that spec
under its tag in nano-modal's published image names (the `image_names` table, in the
default workspace, the only one this protocol serves), where nano-modal's own
`Image.publish` puts its definitions: either SDK's `Image.from_name` finds what the other
published. ImageGetByTag answers the id of the published spec, kept again in the blob store.

A tag is Modal's `[environment/]name:tag`; nano-modal has one environment, `main`, which a
tag may name or leave out (`main/x:latest` is `x:latest`).

`image.build()` needs nothing here: it is an ImageGetOrCreate, answered at once; the worker
builds the image before the first container that uses it (docs/MODAL_CLIENT.md, "Images").
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from ... import config
from ..._image_names import is_full_image_tag
from ...proto import api_pb2 as npb
from ..object_service import MAX_PUBLISHED_SPEC  # nano-modal's own ImagePublish's limit
from .auth import Refused
from .base import ENVIRONMENT, Call, ServiceBase
from .images import load_spec, store_spec
from .mounts import image_metadata


def image_tag(tag: str, environment_name: str = "") -> str:
    """The tag as nano-modal keeps it: `name:tag`, or `env/name:tag` of another environment."""
    if environment_name and "/" not in tag:
        tag = f"{environment_name}/{tag}"
    tag = tag.removeprefix(f"{ENVIRONMENT}/")
    if not is_full_image_tag(tag):
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"nano-modal: invalid image tag {tag!r}")
    return tag


class ImageNameRpcs(ServiceBase):
    async def ImageFromId(self, request: Any, call: Call) -> Any:
        spec = load_spec(self.blobs, request.image_id)
        if spec is None:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"nano-modal: no image {request.image_id!r} was built here")
        return self.pb.ImageFromIdResponse(image_id=request.image_id, metadata=image_metadata(self.pb, spec))

    async def ImagePublish(self, request: Any, call: Call) -> Any:
        call.admin()
        tag = image_tag(request.tag, request.environment_name)
        if load_spec(self.blobs, request.image_id) is None:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"nano-modal: no image {request.image_id!r} was built here")
        definition = self.blobs.read(request.image_id.removeprefix("im-"))
        if len(definition) > MAX_PUBLISHED_SPEC:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"image definition over {MAX_PUBLISHED_SPEC} bytes")
        store = self.objects.registry.store
        await asyncio.to_thread(store.publish_image, config.DEFAULT_WORKSPACE, tag, definition)
        return self.pb.ImagePublishResponse(image_id=request.image_id)

    async def ImageGetByTag(self, request: Any, call: Call) -> Any:
        tag = image_tag(request.tag, request.environment_name)
        store = self.objects.registry.store
        found = await asyncio.to_thread(store.image_by_tag, config.DEFAULT_WORKSPACE, tag)
        if found is None:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"nano-modal: no image published as {tag!r}")
        spec = npb.ImageSpec.FromString(found)
        spec.image_id = ""  # nano-modal's Image.publish sends its own id; the layer's id is its content's here
        return self.pb.ImageGetByTagResponse(image_id=store_spec(self.blobs, spec))
