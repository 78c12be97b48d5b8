"""Image.uv_sync and Image.poetry_install_from_file, built for real on the worker's builder
(uv and poetry from PyPI) from the projects under tests/projects/, whose lock files pin
versions older than the latest: the installed versions show the lock was followed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nano_modal import Image
from nano_modal.exception import InvalidError, NotFoundError
from nano_modal.worker.images.store import Store
from tests.conftest import REPO
from tests.worker.test_images import build, run
from tests.worker.test_images import pytestmark as pytestmark  # skipped where images cannot be built
from tests.worker.test_images import store as store  # the session's image store fixture

PROJECTS = REPO / "tests" / "projects"
VERSIONS = "import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in %r if __import__(p)}))"


def versions(built: object, *packages: str) -> dict[str, str]:
    return json.loads(run(built, f"python3 -c {json.dumps(VERSIONS % (packages,))}"))  # type: ignore[arg-type]


def missing(built: object, package: str) -> bool:
    return "missing" in run(built, f"python3 -c 'import {package}' 2>/dev/null || echo missing")  # type: ignore[arg-type]


def test_uv_sync_installs_the_locked_versions_with_groups_and_extras(store: Store) -> None:
    fresh = {"FRESH": os.urandom(8).hex()}  # a new parent: the steps really run
    image = Image.debian_slim().env(fresh).uv_sync(str(PROJECTS / "uv_project"), groups=["tools"], extras=["pretty"])
    built, lines = build(store, image)
    try:
        # six is unpinned in pyproject.toml; uv.lock holds 1.16.0 (and attrs 21.4.0, idna 3.3)
        assert versions(built, "six", "attrs", "idna") == {"six": "1.16.0", "attrs": "21.4.0", "idna": "3.3"}, lines
        assert "uv-project" not in run(built, "python3 -m pip list 2>/dev/null")  # the project itself is not installed
    finally:
        store.remove_record(built.image_id)  # a one-off: the next prune frees it
    plain, _ = build(store, Image.debian_slim().env(fresh).uv_sync(str(PROJECTS / "uv_project")))
    try:
        assert versions(plain, "six") == {"six": "1.16.0"} and missing(plain, "attrs") and missing(plain, "idna")
    finally:
        store.remove_record(plain.image_id)


def test_poetry_install_from_file_installs_the_locked_versions_of_the_chosen_groups(store: Store) -> None:
    fresh = {"FRESH": os.urandom(8).hex()}
    pyproject = str(PROJECTS / "poetry_project" / "pyproject.toml")
    built, lines = build(store, Image.debian_slim().env(fresh).poetry_install_from_file(pyproject, with_=["tools"]))
    try:
        # pyproject.toml asks for six >=1.15 and any attrs; poetry.lock holds 1.16.0 and 21.4.0
        assert versions(built, "six", "attrs") == {"six": "1.16.0", "attrs": "21.4.0"}, lines
    finally:
        store.remove_record(built.image_id)
    plain, _ = build(store, Image.debian_slim().env(fresh).poetry_install_from_file(pyproject))
    try:
        assert versions(plain, "six") == {"six": "1.16.0"} and missing(plain, "attrs")  # the group is optional
    finally:
        store.remove_record(plain.image_id)


def test_uv_sync_and_poetry_refuse_what_they_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(InvalidError, match=r"uv_sync: expected .*pyproject\.toml to exist"):
        Image.debian_slim().uv_sync(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["a"]\n')
    with pytest.raises(InvalidError, match="uv workspaces are not supported"):
        Image.debian_slim().uv_sync(str(tmp_path))
    with pytest.raises(InvalidError, match="groups must be None or a list of strings"):
        Image.debian_slim().uv_sync(str(PROJECTS / "uv_project"), groups="tools")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match=r"poetry\.lock not found"):
        Image.debian_slim().poetry_install_from_file(str(tmp_path / "pyproject.toml"))


def test_uv_pip_install_uses_uv_when_the_image_has_it(store: Store) -> None:
    """After uv_sync the image has uv, so uv_pip_install takes its uv branch: into the system python."""
    fresh = {"FRESH": os.urandom(8).hex()}
    image = Image.debian_slim().env(fresh).uv_sync(str(PROJECTS / "uv_project")).uv_pip_install("idna==3.2")
    built, lines = build(store, image)
    try:
        output = [line.removeprefix("  | ").strip() for line in lines]  # the step's output, not its command
        assert "+ idna==3.2" in output and "uv is not in the image: installing with pip" not in output, lines
        assert versions(built, "idna", "six") == {"idna": "3.2", "six": "1.16.0"}
    finally:
        store.remove_record(built.image_id)
