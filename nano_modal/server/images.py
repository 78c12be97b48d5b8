"""Images on the server: the secrets of build steps, resolved for the worker that builds.

The server only passes image definitions along (the worker builds them); what it adds is
the variables of `run_commands(..., secrets=[...])` and the like, which only it can decrypt.
They travel in ContainerSpec.image_secrets, never in the container's environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

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
