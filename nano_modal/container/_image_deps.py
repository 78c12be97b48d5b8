"""Which copy of protobuf, grpcio and cloudpickle a container in an image imports.

The SDK's dependencies are bound at config.IMAGE_DEPS_DIR and go LAST on sys.path, so the
image's own packages win and the user's `import google.protobuf` gets the version the image
pinned (as on Modal, whose client accepts a range of protobuf versions). The SDK runs on
those: its generated code carries no gencode/runtime check (proto/generate.py strips it).
Only where the image's version is one the SDK cannot run on do the SDK's copies go FIRST,
for the app too (one process holds one copy of a package), with a line in the log saying so.

Decided from the `<name>-<version>.dist-info` directory names, before anything is imported:
a refused copy loaded first could not be unloaded.
"""

from __future__ import annotations

import os
import sys

# Oldest image versions the SDK runs on. protobuf: its generated code needs the descriptor
# builder API of the 5.x line (tested with 5.29.5); grpcio: the stubs are generated for the
# worker's version and use its call options; cloudpickle: the client's pickles need the same
# major version to load.
PROTOBUF_MIN = (5, 0)


def _versions(directory: str) -> dict[str, tuple[int, ...]]:
    """{distribution: version} of what `directory` holds, by its dist-info names."""
    found: dict[str, tuple[int, ...]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for name in names:
        if name.endswith(".dist-info") and "-" in name:
            dist, _, version = name[: -len(".dist-info")].rpartition("-")
            parts = []
            for piece in version.split("."):
                if not piece.isdigit():
                    break
                parts.append(int(piece))
            found[dist.lower().replace("_", "-")] = tuple(parts)
    return found


def refused(image: dict[str, tuple[int, ...]], sdk: dict[str, tuple[int, ...]]) -> list[str]:
    """The image's versions the SDK cannot run on, as 'name X' strings."""
    bad = []
    if "protobuf" in image and image["protobuf"] < PROTOBUF_MIN:
        bad.append("protobuf")
    if "grpcio" in image and "grpcio" in sdk and image["grpcio"] < sdk["grpcio"]:
        bad.append("grpcio")
    if "cloudpickle" in image and "cloudpickle" in sdk and image["cloudpickle"][:1] != sdk["cloudpickle"][:1]:
        bad.append("cloudpickle")
    # Modal's client (in the deps of a function defined with it): the server speaks one minor
    # version's protocol, so an image that pip-installed another `modal` runs the worker's.
    if "modal" in image and "modal" in sdk and image["modal"][:2] != sdk["modal"][:2]:
        bad.append("modal")
    return [f"{name} {'.'.join(map(str, image[name]))}" for name in bad]


def place(deps_dir: str) -> None:
    """Put `deps_dir` on sys.path: last, or first where the image's packages would break the SDK."""
    image: dict[str, tuple[int, ...]] = {}
    for entry in sys.path:
        if entry and entry != deps_dir and os.path.isdir(entry):
            for name, version in _versions(entry).items():
                image.setdefault(name, version)  # the first on sys.path is the one imported
    bad = refused(image, _versions(deps_dir))
    if not bad:
        sys.path.append(deps_dir)
        return
    sys.path.insert(1 if sys.path and sys.path[0] == "" else 0, deps_dir)
    print(
        f"nano-modal: the image's {', '.join(bad)} cannot run nano-modal's container runtime: the worker's"
        " copies come first in this container, so the app's code imports them too",
        file=sys.stderr,
    )
