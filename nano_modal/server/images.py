"""Images on the server: what it adds to an image definition on its way to a worker.

The server passes image definitions along (the worker builds them) and adds two things:

- the variables of `run_commands(..., secrets=[...])` and the like, which only it can
  decrypt. They travel in ContainerSpec.image_secrets, never in the container's environment;
- the image's cache scope and id (`for_worker`). Workers reuse a built layer for any image
  whose steps are the same, and an image's id leaves out its secrets; so a workspace that
  wrote another's image spec (its Dockerfile commands are often public) would get the layers
  that other workspace built with its secrets: private packages, tokens a step wrote to
  disk, a volume a run_function step read. Outside the default workspace every image is
  built in its workspace's scope and has an id of that scope, computed here from the
  definition itself (a client's image_id is not trusted). `Image.from_id` names an image of
  the caller's workspace only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from .. import config
from .._image_parts import image_id as content_id
from ..proto import api_pb2

log = logging.getLogger("nano_modal.server")


def build_secrets(
    definition: api_pb2.FunctionDefinition, variables: Callable[[str], dict[str, str]] | None
) -> list[api_pb2.ImageStepSecrets]:
    if variables is None or not definition.HasField("image"):
        return []
    out = []
    sources = [(-1, definition.image.base.secret_ids)]  # -1: the base (a private registry's credentials)
    sources += [(index, step.secret_ids) for index, step in enumerate(definition.image.steps)]
    for index, secret_ids in sources:
        env: dict[str, str] = {}
        for secret_id in secret_ids:
            try:
                env.update(variables(secret_id))
            except Exception as exc:  # deleted since: the step runs without it and says so in its output
                log.warning(
                    "image %s step %d: secret %s is unavailable: %s", definition.image.image_id, index, secret_id, exc
                )
        if env:
            out.append(api_pb2.ImageStepSecrets(step=index, env=env))
    return out


def for_worker(spec: api_pb2.ImageSpec, workspace: str) -> api_pb2.ImageSpec:
    """`spec` as a worker builds it for `workspace`: its cache scope, and an id computed here."""
    out = api_pb2.ImageSpec()
    out.CopyFrom(spec)
    out.cache_scope = "" if workspace == config.DEFAULT_WORKSPACE else workspace
    if out.base.kind == "id":  # Image.from_id: an image this workspace built (its unscoped id, as build() returned)
        out.base.ref = _scoped(out.base.ref, out.cache_scope)
        out.image_id = out.base.ref
    else:
        out.image_id = _scoped(content_id(_without_scope(out)), out.cache_scope)
    return out


def _without_scope(spec: api_pb2.ImageSpec) -> api_pb2.ImageSpec:
    bare = api_pb2.ImageSpec()
    bare.CopyFrom(spec)
    bare.cache_scope = ""
    return bare


def _scoped(image_id: str, scope: str) -> str:
    if not scope:
        return image_id
    return "im-" + hashlib.sha256(f"{scope}/{image_id}".encode()).hexdigest()[:24]
