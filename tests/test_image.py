"""The Image definition API on the client: steps recorded as data, ids by content, clear errors."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from nano_modal import Image
from nano_modal._image_parts import image_id
from nano_modal.exception import InvalidError
from nano_modal.image import Step, check_python, local_python
from nano_modal.proto import api_pb2
from tests.conftest import Cluster
from tests.helpers import run_script


class Blobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def upload_blob(self, data: bytes) -> str:
        self.data[f"bl-{len(self.data)}"] = data
        return f"bl-{len(self.data) - 1}"


def spec(image: Image) -> api_pb2.ImageSpec:
    return asyncio.run(image.to_proto(Blobs()))  # type: ignore[arg-type]


def test_steps_are_recorded_in_order() -> None:
    image = (
        Image.debian_slim("3.11")
        .apt_install("curl", ["git"])
        .pip_install("six", index_url="https://example.org/simple", pre=True)
        .uv_pip_install("attrs")
        .run_commands("echo hi")
        .env({"B": "2", "A": "1"})
        .workdir("/app")
        .entrypoint(["/bin/sh"])
    )
    assert [s.kind for s in image.steps] == [
        "apt_install",
        "pip_install",
        "pip_install",
        "run_commands",
        "env",
        "workdir",
        "entrypoint",
    ]
    assert image.steps[0].args == ("curl", "git")
    assert dict(image.steps[1].options) == {"index_url": "https://example.org/simple", "pre": "1"}
    assert dict(image.steps[2].options) == {"uv": "1"}
    assert image.steps[4] == Step("env", (), (("A", "1"), ("B", "2")))
    assert Image.python("3.11") == Image.debian_slim(python_version="3.11")
    assert Image.debian_slim().python_version == local_python()


def test_image_id_is_a_content_hash(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("one")
    a = spec(Image.debian_slim("3.11").pip_install("six").add_local_file(tmp_path / "f.txt", "/f.txt", copy=True))
    b = spec(Image.debian_slim("3.11").pip_install("six").add_local_file(tmp_path / "f.txt", "/f.txt", copy=True))
    assert a.image_id == b.image_id == image_id(a) and a.image_id.startswith("im-")
    (tmp_path / "f.txt").write_text("two")  # the files' content is part of the id
    c = spec(Image.debian_slim("3.11").pip_install("six").add_local_file(tmp_path / "f.txt", "/f.txt", copy=True))
    assert c.image_id != a.image_id
    assert spec(Image.debian_slim("3.11").pip_install("attrs")).image_id != a.image_id
    assert a.steps[1].args[0] == "f.txt"  # the client's own paths do not travel


def test_local_files_and_dirs(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "keep.py").write_text("x")
    (tmp_path / "d" / "sub" / "drop.log").write_text("y")
    (tmp_path / "f.txt").write_text("f")
    image = (
        Image.debian_slim("3.11")
        .add_local_file(tmp_path / "f.txt", "/etc/")
        .add_local_dir(tmp_path / "d", "/app", ignore=["*.log"])
    )
    assert image.steps[0].args[1] == "/etc/f.txt"
    proto = asyncio.run(image.to_proto(blobs := Blobs()))  # type: ignore[arg-type]
    with tarfile.open(fileobj=io.BytesIO(blobs.data[proto.steps[1].blob_id])) as tar:
        assert sorted(tar.getnames()) == ["keep.py", "sub"]


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidError, match=r"no Debian or Ubuntu release provides Python 3\.8; available: 3\.9"):
        Image.debian_slim("3.8")
    with pytest.raises(InvalidError, match="is not a file"):
        Image.debian_slim("3.11").add_local_file(tmp_path / "missing.txt", "/x")
    with pytest.raises(InvalidError, match="is not a directory"):
        Image.debian_slim("3.11").add_local_dir(tmp_path / "missing", "/x")
    with pytest.raises(InvalidError, match="absolute path"):
        Image.debian_slim("3.11").workdir("relative")
    with pytest.raises(InvalidError, match="image ids start with 'im-'"):
        Image.from_id("nope")
    with pytest.raises(InvalidError, match="cannot be extended"):
        Image.from_id("im-123").pip_install("six")
    with pytest.raises(InvalidError, match="invalid image reference"):
        Image.from_registry("has space")
    with pytest.raises(InvalidError, match="does not exist"):
        Image.debian_slim("3.11").pip_install_from_requirements(tmp_path / "requirements.txt")
    (tmp_path / "d").mkdir()
    mounted = Image.debian_slim("3.11").add_local_dir(tmp_path / "d", "/d")
    with pytest.raises(InvalidError, match="comes after add_local_\\* without copy=True"):
        mounted.pip_install("six")
    mounted.add_local_dir(tmp_path / "d", "/e")  # more mounts are fine


def test_requirements_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six==1.16.0  # pinned\n\nattrs\n")
    assert Image.debian_slim("3.11").pip_install_from_requirements(tmp_path / "requirements.txt").steps[0].args == (
        "six==1.16.0",
        "attrs",
    )
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["six"]\n[project.optional-dependencies]\ndev = ["pytest"]\n'
    )
    image = Image.debian_slim("3.11").pip_install_from_pyproject(tmp_path / "pyproject.toml", ["dev"])
    assert image.steps[0].args == ("six", "pytest")
    with pytest.raises(InvalidError, match="no optional dependency group 'gpu'"):
        Image.debian_slim("3.11").pip_install_from_pyproject(tmp_path / "pyproject.toml", ["gpu"])


def test_python_mismatch_is_caught_for_functions_sent_by_value() -> None:
    other = "3.13" if local_python() != "3.13" else "3.11"
    with pytest.raises(InvalidError, match=f"the image has Python {other} but this client runs {local_python()}"):
        check_python(Image.debian_slim(other), True, "f")
    check_python(Image.debian_slim(other), False, "f")  # by reference: the image's Python imports it
    check_python(Image.debian_slim(), True, "f")


def test_imports_swallows_missing_packages_locally() -> None:
    image = Image.debian_slim("3.11")
    with image.imports():
        import nano_modal_package_that_is_not_here  # type: ignore[import-not-found]  # noqa: F401
    assert "nano_modal_package_that_is_not_here" not in sys.modules
    # Kept, as Modal's Image.inside_exceptions, and seen from the images made from it
    (swallowed,) = image.inside_exceptions
    assert isinstance(swallowed, ImportError) and swallowed.name == "nano_modal_package_that_is_not_here"
    assert image.pip_install("six").inside_exceptions == [swallowed]
    assert Image.debian_slim("3.11").inside_exceptions == []  # another image's are its own


PROCESS_DRIVER = """
import json, os, sys
import nano_modal

app = nano_modal.App("image-process")
image = nano_modal.Image.debian_slim().pip_install("six==1.16.0").apt_install("jq").env({"IMAGE_VAR": "set"})


@app.function(image=image)
def where() -> dict:
    import six
    return {"six": six.__version__, "file": six.__file__, "python": sys.executable, "var": os.environ["IMAGE_VAR"]}


if __name__ == "__main__":  # containers import this file too (as Modal's do)
    with app.run(show_logs=True):
        out = where.remote()
        sb = nano_modal.Sandbox.create(app=app, image=image, timeout=120)  # the same venv, for a sandbox
        probe = sb.exec("python", "-c", "import os, six; print(six.__version__, os.environ['IMAGE_VAR'])")
        out["sandbox"] = probe.stdout.read().strip()
        sb.terminate()
        print("RESULT " + json.dumps(out))
"""


def test_process_runtime_approximates_images_with_a_venv(cluster: Cluster, tmp_path: Path) -> None:
    """The `process` runtime (the session cluster's) has no root filesystem: pip steps go into a
    virtual environment of the worker's Python, env applies, the rest is reported as ignored."""
    result = run_script(tmp_path, PROCESS_DRIVER, env=cluster.env(), timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert out["six"] == "1.16.0" and "/venvs/" in out["file"] and "/venvs/" in out["python"]
    assert out["var"] == "set"
    assert out["sandbox"] == "1.16.0 set"
    assert "ignored: apt_install jq (it would install into the host)" in result.stderr


def test_run_function_is_pickled_by_value_and_keyed_by_its_code() -> None:
    def setup(n: int) -> None:
        print(n)

    a = spec(Image.debian_slim().run_function(setup, args=(1,)))
    b = spec(Image.debian_slim().run_function(setup, args=(2,)))
    assert a.steps[0].kind == "run_function" and list(a.steps[0].args) == [setup.__qualname__]
    assert a.steps[0].blob_id and a.steps[0].content_hash != b.steps[0].content_hash
    other = "3.13" if local_python() != "3.13" else "3.11"
    with pytest.raises(InvalidError, match="run_function: the image has Python"):
        Image.debian_slim(other).run_function(setup)


def test_registry_credentials_come_from_a_secret() -> None:
    from nano_modal import Secret

    with pytest.raises(InvalidError, match=r"must be nano_modal\.Secret"):
        Image.from_registry("host:5000/private/img:1", secret={"REGISTRY_USERNAME": "u"})
    secret = Secret.from_dict({"REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "p"})
    image = Image.from_registry("host:5000/private/img:1", secret=secret).env({"A": "1"})
    assert image.base_secrets == (secret,)  # kept through the steps, not part of equality or the id
    assert image == Image.from_registry("host:5000/private/img:1").env({"A": "1"})


def test_modal_step_options_reach_the_build(capsys: pytest.CaptureFixture[str]) -> None:
    """pip_install(find_links=, extra_options=, env=, gpu=) as Modal takes them; pipe() chains recipes."""
    from nano_modal.secret import Secret
    from nano_modal.worker.images.steps import commands
    from nano_modal.worker.images.store import ImageState

    def with_tools(image: Image, tool: str) -> Image:
        return image.run_commands(f"echo {tool}", env={"MODE": "build"})

    image = (
        Image.debian_slim()
        .pipe(with_tools, "jq")
        .pip_install(
            "pkg", find_links="/wheels", extra_options="--no-build-isolation --prefer-binary", env={"A": "1"}, gpu="T4"
        )
    )
    pip = image.steps[-1]
    assert len(pip.secrets) == 1 and isinstance(pip.secrets[0], Secret)  # env= runs with the step
    assert len(image.steps[-2].secrets) == 1 and image.steps[-2].args == ("echo jq",)
    proto = api_pb2.ImageStep(kind=pip.kind, args=list(pip.args), options=dict(pip.options))
    (line,) = commands(proto, ImageState())
    assert "--find-links /wheels --no-build-isolation --prefer-binary pkg" in line
    assert "Image.pip_install(gpu=...) ignored" in capsys.readouterr().err
    with pytest.raises(InvalidError, match="must return an Image"):
        Image.debian_slim().pipe(lambda image: None)


def test_file_pattern_matcher_and_ignore_predicates(tmp_path: Path) -> None:
    from nano_modal import FilePatternMatcher
    from nano_modal._image_parts import tar_local

    matcher = FilePatternMatcher("**/*.txt", "!keep.txt", "build/")
    assert matcher(Path("a.txt")) and matcher(Path("deep/er/b.txt")) and not matcher(Path("keep.txt"))
    assert matcher(Path("build/x.py"))  # a matched directory takes what it holds
    assert not matcher(Path("src/main.py")) and not matcher.can_prune_directories()
    only_py = ~FilePatternMatcher("**/*.py")
    assert only_py(Path("notes.md")) and not only_py(Path("pkg/mod.py"))
    ignore_file = tmp_path / ".ignore"
    ignore_file.write_text("# comment\n*.log\n\n")
    assert FilePatternMatcher.from_file(ignore_file).patterns == ["*.log"]

    tree = tmp_path / "tree"
    for rel in ("a.txt", "keep.txt", "pkg/mod.py", "pkg/data.txt", "build/out.bin"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(rel)

    def names(archive: bytes) -> list[str]:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            return sorted(m.name for m in tar.getmembers() if m.isfile())

    assert names(tar_local(tree, (), matcher)) == ["keep.txt", "pkg/mod.py"]
    assert names(tar_local(tree, (), only_py)) == ["pkg/mod.py"]
    assert names(tar_local(tree, (), lambda p: p.suffix == ".bin")) == [
        "a.txt",
        "keep.txt",
        "pkg/data.txt",
        "pkg/mod.py",
    ]
    image = Image.debian_slim().add_local_dir(tree, "/app", ignore=matcher)
    assert image.steps[-1].ignore_fn is matcher and "FilePatternMatcher" in dict(image.steps[-1].options)["ignore_fn"]


def test_cmd_is_recorded_as_a_dockerfile_cmd() -> None:
    image = Image.debian_slim().cmd(["python", "app.py"])
    assert image.steps[-1] == Step("cmd", ("python", "app.py"))
    with pytest.raises(InvalidError, match="list of strings"):
        Image.debian_slim().cmd("python app.py")  # type: ignore[arg-type]


def test_imports_raise_only_in_the_containers_of_that_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Module-level `with image.imports():` runs in every container that imports the module:
    a function with another image (or none) must not fail on this image's packages."""
    from nano_modal import config
    from nano_modal._image_digest import spec_definition_digest

    (tmp_path / "conf.txt").write_text("x\n")
    image = Image.debian_slim("3.11").pip_install("six").env({"A": "1"}).add_local_file(tmp_path / "conf.txt", "/c")
    other = Image.debian_slim("3.11").pip_install("requests")

    def import_missing(img: Image) -> bool:
        """True if the ImportError came through."""
        try:
            with img.imports():
                import a_package_that_is_not_here  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            return True
        return False

    assert not import_missing(image)  # locally
    monkeypatch.setenv(config.ENV_IS_REMOTE, "1")
    own = spec_definition_digest(asyncio.run(image.to_proto(Blobs())))  # type: ignore[arg-type]
    for running, raised in (
        (own, True),
        (spec_definition_digest(asyncio.run(other.to_proto(Blobs()))), False),  # type: ignore[arg-type]
        ("", False),
    ):
        monkeypatch.setenv(config.ENV_RUNNING_IMAGE, running)
        assert import_missing(image) is raised, running


def test_force_build_on_a_base_gives_it_a_new_id() -> None:
    """debian_slim/from_registry(force_build=True): the base's cache key (worker/images/builder.py)
    and so the image's id are ones no earlier build has."""
    plain = spec(Image.debian_slim("3.11"))
    forced = [spec(Image.debian_slim("3.11", force_build=True)) for _ in range(2)]
    assert plain.base.force_build == "" and all(s.base.force_build for s in forced)
    assert len({plain.image_id, *(s.image_id for s in forced)}) == 3
    registry = spec(Image.from_registry("python:3.11-slim", force_build=True))
    assert registry.base.force_build and registry.image_id != spec(Image.from_registry("python:3.11-slim")).image_id
