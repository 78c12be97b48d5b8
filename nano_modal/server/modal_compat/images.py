"""The images a Modal client defines, as nano-modal ImageSpecs the worker's builder builds.

Modal's client sends an image as layers: each ImageGetOrCreate is Dockerfile commands on top
of one base image (`FROM base`, its id in `base_images`) or of a registry reference
(`FROM python:3.11-slim-bookworm`). Each layer here becomes the ImageSpec of its base plus
the steps its commands mean (read by nano_modal/dockerfile.py, as `dockerfile_commands`
are), kept in the blob store under the sha256 of the spec, which is the layer's id
(`im-<sha256>`), so both outlive the server. FunctionCreate gives the function that spec
(`FunctionDefinition.image`); the worker builds it before the function's first container.

`Image.debian_slim()` (Modal's own base, sent in the global namespace: `FROM
python:X.Y-slim-<codename>` and its setup commands) becomes nano-modal's own Debian base of
that Python, when nano-modal has one (nano_modal/image.py DEBIAN_PYTHONS): cached, and
built from Debian's archive rather than Docker Hub. What differs is in docs/MODAL_CLIENT.md
("Images"). Another version is pulled from the registry as written, its setup run.

What cannot be built is refused at ImageGetOrCreate with one line naming it (`refused`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import shlex
from collections import OrderedDict
from pathlib import Path
from typing import Any

import grpc

from ...dockerfile import logical_lines, parse_commands
from ...exception import InvalidError
from ...image import DEBIAN_PYTHONS
from ...proto import api_pb2 as npb
from ..blobs import BlobStore
from .auth import Refused
from .image_context import build_context, copy_step

# `Image.debian_slim()`'s FROM line (2025.06: python:3.11.x-slim-bookworm; 2026.10: python:3.11-slim-trixie).
DEBIAN_SLIM_FROM = re.compile(r"python:(\d+\.\d+)(?:\.\d+)?-slim-(\w+)")
# Its setup on top of python.org's Python: a compiler toolchain, pip upgraded, debconf made
# non-interactive, a CMD for sandboxes. nano-modal's Debian base leaves these out (docs/MODAL_CLIENT.md).
DEBIAN_SLIM_SETUP = re.compile(
    r"RUN apt-get update|RUN apt-get install -y gcc gfortran build-essential|RUN pip install --upgrade .*"
    r"|RUN echo 'debconf debconf/frontend select Noninteractive' \| debconf-set-selections|CMD \[\"sleep\", \"\d+\"\]"
)
STEP_WITH_SECRETS = ("run_commands",)  # the steps an image layer's `secrets=` reach while they run
NO_CONTEXT = Path("/nonexistent-modal-build-context")  # a layer without COPY reads no files
# How `uv_pip_install`/`uv_sync` put uv in an image: copied out of uv's own image (a second
# stage, which nano-modal does not build). Here pip installs that uv release and links it there.
UV_FROM_IMAGE = re.compile(r"COPY --from=ghcr\.io/astral-sh/uv:(?P<version>[\w.+-]+) /uv (?P<dest>/\S+)")
# How `add_python=` copies Modal's standalone Python (a mount of Modal's own) into an image.
ADD_PYTHON_COPY = "COPY /python/. /usr/local"


# Translated layers remembered by the server (LayerCache): enough for the images of many
# projects, each entry two short strings.
LAYER_CACHE_SIZE = 4096


class LayerCache:
    """ImageGetOrCreate requests already translated, by digest, and the layer id each gave:
    an unchanged project's `modal run` does not write its files out and tar them again
    (bench/bench_image_copies.py: seconds for a thousand files). The request names all it
    reads by content (a mount id is its manifest's hash, context files are inline, a base is
    its spec's hash), so the same digest means the same layer; a hit is used only while the
    layer's spec and files are still in the blob store."""

    def __init__(self, size: int = LAYER_CACHE_SIZE) -> None:
        self.size = size
        self._ids: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def key(request: Any) -> str | None:
        if request.force_build:  # its steps get fresh keys: never the same layer twice
            return None
        # what translate() reads: the layer and its namespace, not the app asking (each run's own)
        image = request.image.SerializeToString(deterministic=True)
        return hashlib.sha256(image + b"\0" + str(request.namespace).encode()).hexdigest()

    def get(self, key: str | None, blobs: BlobStore) -> tuple[str, npb.ImageSpec] | None:
        if key is None or (image_id := self._ids.get(key)) is None:
            return None
        spec = load_spec(blobs, image_id)
        if spec is None or not all(blobs.has(step.blob_id) for step in spec.steps if step.blob_id):
            return None
        self._ids.move_to_end(key)
        return image_id, spec

    def put(self, key: str | None, image_id: str) -> None:
        if key is None:
            return
        self._ids[key] = image_id
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


def refused(what: str) -> Refused:
    return Refused(grpc.StatusCode.INVALID_ARGUMENT, f"nano-modal cannot build this image: {what}")


def load_spec(blobs: BlobStore, image_id: str) -> npb.ImageSpec | None:
    """The spec an ImageGetOrCreate made, by the id it answered; None for ids it never made."""
    digest = image_id.removeprefix("im-")
    if not re.fullmatch(r"[0-9a-f]{64}", digest) or not blobs.has(digest):
        return None
    return npb.ImageSpec.FromString(blobs.read(digest))


def store_spec(blobs: BlobStore, spec: npb.ImageSpec) -> str:
    """Keep `spec`; its id. Deterministic (same layers, same id: cached on the client's side too)."""
    data = spec.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data).hexdigest()
    blobs.put(digest, [data])
    return f"im-{digest}"


def translate(pb: Any, request: Any, blobs: BlobStore) -> npb.ImageSpec:
    """The ImageSpec of the layer an ImageGetOrCreateRequest describes (Refused if it cannot be built)."""
    image = request.image
    _refuse_unsupported(pb, image)
    commands = list(image.dockerfile_commands)
    if not commands:
        raise refused("an image layer without Dockerfile commands (Image.run_function?) is not supported yet")
    first = commands[0].split()
    if len(first) != 2 or first[0].upper() != "FROM":
        raise refused(f"the first Dockerfile command must be 'FROM <image>', not {commands[0]!r}")
    spec, rest = _base(pb, request, first[1], commands[1:], blobs)
    text = "\n".join(_uv_installed(command) for command in rest)
    copies = any(instruction.split(maxsplit=1)[0].upper() in ("COPY", "ADD") for _, instruction in logical_lines(text))
    context = NO_CONTEXT
    try:
        with build_context(image, blobs) if copies else contextlib.nullcontext(NO_CONTEXT) as context:
            for step in parse_commands(text, context, dict(image.build_args)):
                if step.kind == "copy":
                    spec.steps.append(copy_step(step, context, blobs))
                    continue
                proto = spec.steps.add(kind=step.kind, args=step.args, options=dict(step.options))
                if step.kind in STEP_WITH_SECRETS:
                    proto.secret_ids.extend(image.secret_ids)
                    if request.force_build:  # a key no cached layer has: this step and those after it run again
                        proto.options["force_build"] = secrets.token_hex(8)
    except InvalidError as exc:
        raise refused(_unscratched(str(exc), context)) from exc
    return spec


def _uv_installed(command: str) -> str:
    """A COPY of uv out of its image, as a RUN that pip-installs that uv and links it there."""
    match = UV_FROM_IMAGE.fullmatch(command.strip())
    if match is None:
        return command
    version = match["version"]
    requirement = shlex.quote("uv" if version == "latest" else f"uv=={version}")
    dest = shlex.quote(match["dest"])
    link = f'mkdir -p "$(dirname {dest})" && ln -sf "$(command -v uv)" {dest}'
    return f"RUN python -m pip install {requirement} && {link}"


def _unscratched(message: str, context: Path) -> str:
    """A parser error without the scratch directory's path (the user knows their own context)."""
    return message.replace(f" {context.resolve()}", "").replace(str(context.resolve()), "")


def _refuse_unsupported(pb: Any, image: Any) -> None:
    if image.HasField("build_function") or image.build_function_def:
        raise refused("Image.run_function is not supported yet")
    if image.gpu_config.type or image.gpu_config.gpu_type or image.gpu_config.count:
        raise refused("building with a GPU (gpu= on an image step) is not supported")
    if any(c.strip() == ADD_PYTHON_COPY for c in image.dockerfile_commands):
        raise refused(
            "from_registry(add_python=) is not supported: nano-modal does not install a Python into an image;"
            " use an image that has python3 (python:<version>-slim) or Image.debian_slim()"
        )
    if image.volume_mounts:
        raise refused("volumes in image builds are not supported yet")
    names = [b.docker_tag for b in image.base_images]
    if names not in ([], ["base"]):
        raise refused(f"base images {names} (only one, `FROM base`) are not supported")
    auth = image.image_registry_config.registry_auth_type
    if auth in (pb.REGISTRY_AUTH_TYPE_AWS, pb.REGISTRY_AUTH_TYPE_GCP):
        name = pb.RegistryAuthType.Name(auth)
        raise refused(f"registry credentials of type {name} (AWS ECR, GCP) are not supported; use REGISTRY_USERNAME")


def _base(pb: Any, request: Any, ref: str, rest: list[str], blobs: BlobStore) -> tuple[npb.ImageSpec, list[str]]:
    """The spec the layer starts from, and the commands left to translate on top of it."""
    image = request.image
    if ref == "base":
        if not image.base_images:
            raise refused("'FROM base' without a base image")
        parent = load_spec(blobs, image.base_images[0].image_id)
        if parent is None:
            raise refused(f"base image {image.base_images[0].image_id} is not one this server made")
        return parent, rest
    spec = npb.ImageSpec()
    slim = DEBIAN_SLIM_FROM.fullmatch(ref)
    if request.namespace == pb.DEPLOYMENT_NAMESPACE_GLOBAL and slim and slim.group(1) in DEBIAN_PYTHONS:
        # Image.debian_slim(): nano-modal's own Debian base of that Python, without Modal's setup.
        spec.base.CopyFrom(npb.ImageBase(kind="debian", python_version=slim.group(1)))
        return spec, [c for c in rest if not DEBIAN_SLIM_SETUP.fullmatch(c.strip())]
    spec.base.CopyFrom(npb.ImageBase(kind="registry", ref=ref))
    if image.image_registry_config.secret_id:  # REGISTRY_USERNAME / REGISTRY_PASSWORD, as nano-modal reads them
        spec.base.secret_ids.append(image.image_registry_config.secret_id)
    return spec, rest


def python_version_info(spec: npb.ImageSpec | None, fallback: str) -> str:
    """What the client is told of the image's Python (it only warns about 3.10)."""
    if spec is not None and spec.base.kind == "debian":
        return f"Python {spec.base.python_version}.0"
    return f"Python {fallback}"
