"""A warning when a function cloudpickled by one Python is given an image of another.

`serialized=True` functions (hypernodes' ModalBackend makes one, as do notebooks) travel as
cloudpickle, which carries bytecode: another minor version of Python cannot run it, and the
container dies unpickling it (seen: killed by SIGSEGV, exit 139, with no word of why). Modal runs
it all the same; nano-modal does too, and tells the client at FunctionCreate, through the
warning header Modal's client prints for any response (modal/_utils/grpc_utils.py). The
`process` runtime runs the worker's own Python whatever the image says, so there it may load.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ...proto import api_pb2 as npb

CLIENT_PYTHON_HEADER = "x-modal-python-version"  # the client's own, "3.11.7", on every request
WARNING_HEADER = "x-modal-warning"  # Modal's client shows each such trailing entry as a ServerWarning


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def python_mismatch(function: Any, image: npb.ImageSpec | None, headers: dict[str, str]) -> str | None:
    """Why `function` (Modal's Function message) cannot load in its image, if it cannot: it was
    serialized by the client's Python and the image's Debian base has another minor version.
    None when either version is unknown (a registry image says none)."""
    serialized = bool(function.function_serialized or function.class_serialized)
    client = _minor(headers.get(CLIENT_PYTHON_HEADER, ""))
    if not serialized or not client or image is None or image.base.kind != "debian":
        return None
    image_python = image.base.python_version
    if not image_python or _minor(image_python) == client:
        return None
    return (
        f"nano-modal: {function.function_name} is serialized (cloudpickled) by Python {client} but its image "
        f"has Python {image_python}, whose containers cannot unpickle it (on runtimes that build images): "
        f"use an image of Python {client}, e.g. Image.debian_slim(python_version={client!r})"
    )


def warning_metadata(message: str) -> tuple[tuple[str, str]]:
    """The trailing metadata that carries `message` to Modal's client (percent-encoded, as it reads it)."""
    return ((WARNING_HEADER, urllib.parse.quote(message)),)
