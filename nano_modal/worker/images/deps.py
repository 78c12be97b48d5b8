"""What the container entrypoint needs inside an image: the SDK and the packages it imports.

The SDK's source is bound read-only at config.IMAGE_SDK_DIR (it is pure Python and must be
exactly the worker's version). Its dependencies (grpcio, protobuf, cloudpickle...) are a
directory bound at config.IMAGE_DEPS_DIR and put LAST on sys.path (first only where the image has
versions the SDK cannot run on: container/_image_deps.py), so the image's own
packages win. That directory is made once per image Python version:
- same major.minor as the worker: copied from the worker's installation (no network, exact
  same versions; manylinux wheels run on any Debian that Python runs on);
- another version: `pip install --target` with the image's own Python, pinned to the
  worker's versions.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

# The distributions the container entrypoint imports (and their requirements, found below).
RUNTIME_DISTS = ("grpcio", "protobuf", "cloudpickle", "croniter")
# A container of a function defined with the real `modal` client runs Modal's own entrypoint:
# the worker's `modal` package and its requirements too (as Modal mounts its client into images).
MODAL_CLIENT_DISTS = (*RUNTIME_DISTS, "modal")


def closure(names: tuple[str, ...] = RUNTIME_DISTS) -> dict[str, str]:
    """{distribution: version} of `names` and everything they require (extras left out)."""
    found: dict[str, str] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist.version
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            if ";" in req and "python_version" in req and not _marker_holds(req.split(";", 1)[1]):
                continue
            todo.append(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0])
    return found


def _marker_holds(marker: str) -> bool:
    """Only python_version markers matter here ('python_version < "3.8"' and the like)."""
    match = re.search(r"python_version\s*([<>=!]=?)\s*['\"]([\d.]+)['\"]", marker)
    if not match:
        return True
    op, version = match.groups()
    have = sys.version_info[:2]
    want = tuple(int(x) for x in version.split(".")[:2])
    return bool(
        {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want, "==": have == want}.get(
            op, have != want
        )
    )


def copy_from_host(dest: Path, log: Callable[[str], None], names: tuple[str, ...] = RUNTIME_DISTS) -> None:
    """Copy the files of `names` and their requirements from the worker's site-packages into `dest`."""
    dists = closure(names)
    for name in sorted(dists):
        dist = md.distribution(name)
        base = Path(str(dist.locate_file("")))
        for file in dist.files or []:
            source = base / file
            if file.parts[0] == ".." or "__pycache__" in file.parts or not source.is_file():
                continue
            target = dest / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    log(f"runtime packages copied from the worker: {', '.join(f'{k}=={v}' for k, v in sorted(dists.items()))}")


def pip_command(target: str, names: tuple[str, ...] = RUNTIME_DISTS) -> str:
    pins = " ".join(f"'{k}=={v}'" for k, v in sorted(closure(names).items()))
    return f"python3 -m pip install --no-cache-dir --no-deps --target {target} {pins}"
