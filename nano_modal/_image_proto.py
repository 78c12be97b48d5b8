"""An Image as the ImageSpec sent to the server: local files and pickles uploaded as blobs."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ._image_parts import image_id, tar_local
from .proto import api_pb2

if TYPE_CHECKING:
    from .client import Client
    from .image import Image


async def image_spec(image: Image, client: Client) -> api_pb2.ImageSpec:
    """`image.to_proto(client)`: the definition sent with a function."""
    spec: api_pb2.ImageSpec
    if image.base_kind == "named":  # Image.from_name: the published definition, then this image's own steps
        spec = await client.stub.ImageGetByTag(api_pb2.ImageGetByTagRequest(tag=image.ref))
    else:
        spec = api_pb2.ImageSpec()
        spec.base.kind = image.base_kind
        spec.base.python_version = image.python_version
        spec.base.ref = image.ref
        spec.base.force_build = image.base_force_build
    if image.base_secrets:
        from .secret import resolve_secrets

        spec.base.secret_ids.extend(await resolve_secrets(image.base_secrets))
    for step in image.steps:
        proto = spec.steps.add(kind=step.kind, args=list(step.args), options=dict(step.options))
        if step.secrets:
            from .secret import resolve_secrets

            proto.secret_ids.extend(await resolve_secrets(step.secrets))
        if step.volumes:
            from .volume import resolve_mounts

            proto.volume_mounts.extend(await resolve_mounts(dict(step.volumes)))
        if step.kind == "run_function":  # the pickle travels as a blob, named by its hash
            payload = base64.b64decode(step.args[1])
            proto.content_hash = hashlib.sha256(payload).hexdigest()
            proto.blob_id = await client.upload_blob(payload)
            del proto.args[1:]
        if step.kind == "add_local":
            ignore = json.loads(dict(step.options).get("ignore") or "[]")
            archive = tar_local(Path(step.args[0]), ignore, step.ignore_fn)
            proto.content_hash = hashlib.sha256(archive).hexdigest()
            proto.blob_id = await client.upload_blob(archive)
            proto.args[0] = Path(step.args[0]).name  # the client's paths are no business of the worker's
    spec.image_id = image_id(spec)
    return spec
