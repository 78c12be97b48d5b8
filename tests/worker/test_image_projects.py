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
from tests.conftest import REPO, Cluster
from tests.helpers import run_script
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


NAMED = """
import json
import nano_modal
from nano_modal.exception import InvalidError, NotFoundError

app = nano_modal.App("named-images")
extended = nano_modal.Image.from_name("team-base").run_commands("echo extended > /extended.txt")

@app.function(image=extended)
def read_extended():
    return [open("/published.txt").read().strip(), open("/extended.txt").read().strip()]

@app.function(image=nano_modal.Image.from_name("team-base:v1"))
def read_v1():
    return open("/published.txt").read().strip()

if __name__ == "__main__":  # the containers import this file too
    out = {}
    base = nano_modal.Image.debian_slim().run_commands("echo published > /published.txt")
    try:
        base.publish("team-base")
    except InvalidError as exc:
        out["unbuilt"] = str(exc)
    base.build()
    base.publish("team-base")  # team-base:latest
    nano_modal.Image.debian_slim().run_commands("echo version one > /published.txt").build().publish("team-base:v1")
    with app.run():
        out["extended"] = read_extended.remote()
        out["v1"] = read_v1.remote()
    try:
        nano_modal.Image.from_name("never-published").build()
    except NotFoundError as exc:
        out["missing"] = str(exc)
    print("RESULT " + json.dumps(out))
"""


def test_published_images_run_by_name_with_steps_on_top(isolated_cluster: object, tmp_path: Path) -> None:
    cluster: Cluster = isolated_cluster("bwrap")  # type: ignore[operator]
    result = run_script(tmp_path, NAMED, env=cluster.env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert out["unbuilt"] == "Cannot publish an image that has not been built yet: call .build() first"
    assert out["extended"] == ["published", "extended"]
    assert out["v1"] == "version one"
    assert out["missing"] == "no image published as 'never-published:latest'"


def test_image_names_are_checked() -> None:
    assert Image.from_name("base").ref == "base:latest"
    assert Image.from_name("base:v2", environment_name="dev").ref == "dev/base:v2"
    with pytest.raises(InvalidError, match="invalid image name 'a b'"):
        Image.from_name("a b")
    with pytest.raises(InvalidError, match="environment_name cannot be used"):
        Image.from_name("dev/base", environment_name="prod")
