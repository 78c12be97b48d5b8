"""What identifies an image without building it or reading local files: a digest of its
base and steps, the same from an `Image` object (`Image._definition_digest`) and from the
ImageSpec it becomes, so that a container can tell its own image's `imports()` from another's."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .proto import api_pb2


def spec_definition_digest(spec: api_pb2.ImageSpec) -> str:
    """`Image._definition_digest` of the image `spec` came from."""
    steps = [[step.kind, list(step.args), sorted(step.options.items())] for step in spec.steps]
    return digest_of_definition([spec.base.kind, spec.base.python_version, spec.base.ref, steps])


def digest_of_definition(definition: list[Any]) -> str:
    return hashlib.sha256(json.dumps(definition).encode()).hexdigest()
