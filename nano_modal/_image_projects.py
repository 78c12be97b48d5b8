"""Image methods that install a project's locked dependencies with its own tool, as Modal's do:
`uv_sync` (a uv project: pyproject.toml and uv.lock) and `poetry_install_from_file` (a Poetry
project). A mixin of Image, so that image.py keeps to the steps themselves.

Both are made of ordinary steps: the tool is pip-installed, the project's files are copied
into a layer (their content is part of the cache key), and the tool runs there. They install
into the image's python, where `pip_install` puts packages, so functions import them as they
would in Modal's images (Modal's uv_sync makes a virtualenv at /.uv/.venv and puts it first
on PATH; here the packages land in the python the containers already run).
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._image_parts import note_build_gpu
from .config import is_remote
from .exception import InvalidError, NotFoundError

if TYPE_CHECKING:
    from .image import Image

UV_ROOT = "/.uv"  # where uv_sync copies the project, as Modal's builder does
# Where poetry_install_from_file copies the project. Modal's builder uses /tmp/poetry, but build
# steps here get a fresh /tmp each, which would hide the copied files from the install step.
POETRY_ROOT = "/.poetry"
# uv in a build step: no cache left in the layer, never a Python of its own (the image's is used).
_UV_ENV = "UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never"


def _names(items: Sequence[str] | None, what: str) -> list[str]:
    if items is None:
        return []
    if isinstance(items, str) or not all(isinstance(item, str) for item in items):
        raise InvalidError(f"{what} must be None or a list of strings")
    return list(items)


def _pyproject(path: Path, where: str) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidError(f"{where}: expected {path} to exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InvalidError(f"{where}: {path} is not valid TOML: {exc}") from None


class ImageProjects:
    def uv_sync(
        self,
        uv_project_dir: str = "./",
        *,
        force_build: bool = False,
        groups: list[str] | None = None,
        extras: list[str] | None = None,
        frozen: bool = True,
        extra_options: str = "",
        uv_version: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install the dependencies of the uv project in `uv_project_dir` (its pyproject.toml, and
        its uv.lock if there is one: with `frozen`, the lock is used as it is) into the image, as
        `uv sync --no-install-project` would: the project itself is not installed (add its code
        with add_local_python_source). `groups`/`extras` select dependency groups and extras;
        `extra_options` is appended to uv's command line; `uv_version` pins uv."""
        image = cast("Image", self)
        if is_remote():  # the image was built from the client's files; they are not here
            return image
        group_names, extra_names = _names(groups, "groups"), _names(extras, "extras")
        project = Path(uv_project_dir).expanduser()
        pyproject = project / "pyproject.toml"
        if "workspace" in _pyproject(pyproject, "uv_sync").get("tool", {}).get("uv", {}):
            raise InvalidError("uv_sync: uv workspaces are not supported")
        note_build_gpu("Image.uv_sync", gpu)
        image = image.pip_install(f"uv=={uv_version}" if uv_version else "uv", force_build=force_build)
        image = image.add_local_file(pyproject, f"{UV_ROOT}/pyproject.toml", copy=True)
        # uv exports the locked set (resolving first when there is no lock) and installs exactly it.
        export = ["uv", "export", "--no-emit-project", "--no-hashes", "--no-header", "-o", "requirements.txt"]
        lock = project / "uv.lock"
        if lock.is_file():
            image = image.add_local_file(lock, f"{UV_ROOT}/uv.lock", copy=True)
            if frozen:
                export.append("--frozen")
        export += [f"--group={name}" for name in group_names] + [f"--extra={name}" for name in extra_names]
        install = "uv pip install --system --python python3 --compile-bytecode -r requirements.txt"
        command = f"cd {UV_ROOT} && {_UV_ENV} {shlex.join(export)} {extra_options} && {_UV_ENV} {install}"
        return image.run_commands(command, secrets=secrets or (), env=env, force_build=force_build)

    def poetry_install_from_file(
        self,
        poetry_pyproject_toml: str,
        poetry_lockfile: str | None = None,
        *,
        ignore_lockfile: bool = False,
        force_build: bool = False,
        with_: list[str] = [],  # noqa: B006 - Modal's signature; never mutated
        without: list[str] = [],  # noqa: B006
        only: list[str] = [],  # noqa: B006
        poetry_version: str | None = "latest",
        old_installer: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install a Poetry project's dependencies (not the project itself) into the image's python
        with `poetry install --no-root`, from its pyproject.toml and poetry.lock (next to it unless
        `poetry_lockfile` names it; `ignore_lockfile` resolves afresh). `with_`/`without`/`only`
        select dependency groups; `poetry_version=None` uses a poetry the image already has."""
        image = cast("Image", self)
        if is_remote():  # the image was built from the client's files; they are not here
            return image
        pyproject = Path(poetry_pyproject_toml).expanduser()
        _pyproject(pyproject, "poetry_install_from_file")
        note_build_gpu("Image.poetry_install_from_file", gpu)
        if poetry_version is not None:
            spec = "" if poetry_version == "latest" else f"=={poetry_version}"
            image = image.pip_install(f"poetry{spec}", force_build=force_build)
        if old_installer:
            image = image.run_commands("poetry config experimental.new-installer false", force_build=force_build)
        if not ignore_lockfile:
            lock = Path(poetry_lockfile).expanduser() if poetry_lockfile else pyproject.parent / "poetry.lock"
            if not lock.is_file():
                raise NotFoundError(
                    f"poetry.lock not found at {lock.absolute()}; pass ignore_lockfile=True if no lock file is needed"
                )
            image = image.add_local_file(lock, f"{POETRY_ROOT}/poetry.lock", copy=True)
        image = image.add_local_file(pyproject, f"{POETRY_ROOT}/pyproject.toml", copy=True)
        install = ["poetry", "install", "--no-root", "--compile"]
        for flag, names in (("--with", with_), ("--without", without), ("--only", only)):
            if names:
                install += [flag, ",".join(_names(names, flag.lstrip("-")))]
        command = f"cd {POETRY_ROOT} && poetry config virtualenvs.create false && {shlex.join(install)}"
        return image.run_commands(command, secrets=secrets or (), env=env, force_build=force_build)
