"""Image.dockerfile_commands, shell, from_scratch and build (nano_modal/_image_recipes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nano_modal
from nano_modal import Image
from nano_modal.exception import ExecutionError, InvalidError
from tests.conftest import Cluster


@pytest.fixture
def context(tmp_path: Path) -> Path:
    for name in ["app/main.py", "app/notes.txt", "app/skip.log", "requirements.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


def test_dockerfile_commands_become_steps(context: Path) -> None:
    secret = nano_modal.Secret.from_dict({"TOKEN": "t"})
    image = Image.debian_slim().dockerfile_commands(
        ["ARG MODE=dev", "ENV APP=/srv/${MODE}"],
        "RUN echo $MODE > /mode",
        "COPY app /srv/app",
        context_dir=context,
        secrets=[secret],
        ignore=["app/*.log"],
        build_args={"MODE": "prod"},
    )
    kinds = [s.kind for s in image.steps]
    assert kinds == ["env", "run_commands", "add_local"]
    assert dict(image.steps[0].options) == {"APP": "/srv/prod"}
    assert secret in image.steps[1].secrets
    copy = dict(image.steps[2].options)
    assert copy["copy"] == "1" and json.loads(copy["ignore"]) == ["*.log"]
    assert image.steps[2].args == (str(context.resolve() / "app"), "/srv/app")


def test_dockerfile_commands_take_an_ignore_predicate_relative_to_the_context(context: Path) -> None:
    seen: list[Path] = []

    def ignore(path: Path) -> bool:
        seen.append(path)
        return path.suffix == ".txt"

    image = Image.debian_slim().dockerfile_commands(["COPY app /srv/app"], context_dir=context, ignore=ignore)
    step = image.steps[-1]
    assert step.ignore_fn is not None
    assert step.ignore_fn(Path("notes.txt")) and not step.ignore_fn(Path("main.py"))
    assert seen[0] == Path("app/notes.txt")


def test_dockerfile_commands_refuse_what_they_cannot_do(context: Path) -> None:
    assert Image.debian_slim().dockerfile_commands([]) == Image.debian_slim()
    with pytest.raises(InvalidError, match="FROM starts another image"):
        Image.debian_slim().dockerfile_commands("FROM python:3.11")
    with pytest.raises(InvalidError, match="context_files"):
        Image.debian_slim().dockerfile_commands("COPY a /a", context_files={"/a": str(context / "requirements.txt")})
    with pytest.raises(InvalidError, match="SHELL is not supported"):
        Image.debian_slim().dockerfile_commands('SHELL ["/bin/bash", "-c"]')
    with pytest.raises(InvalidError, match=r"Image.shell\(\['/bin/bash', '-c'\]\) is not supported"):
        Image.debian_slim().shell(["/bin/bash", "-c"])
    with pytest.raises(InvalidError, match="from_scratch"):
        Image.from_scratch()


def test_from_dockerfile_still_bakes_copies(context: Path) -> None:
    (context / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY requirements.txt /r.txt\n")
    image = Image.from_dockerfile(context / "Dockerfile")
    assert [s.kind for s in image.steps] == ["add_local"] and dict(image.steps[0].options)["copy"] == "1"


def test_build_makes_an_id_from_id_takes(cluster: Cluster) -> None:
    image = Image.debian_slim().env({"BUILT_BY": "test_build"})
    with pytest.raises(ExecutionError, match="not built yet"):
        image.object_id  # noqa: B018
    with pytest.raises(AttributeError):
        image.client  # noqa: B018
    assert image.build() is image
    assert image.object_id.startswith("im-") and image.client is nano_modal.Client.from_env()
    assert image.hydrate().object_id == image.object_id  # built already: the same id
    assert Image.from_id(image.object_id).ref == image.object_id
    extended = image.env({"MORE": "1"})
    with pytest.raises(ExecutionError):
        extended.object_id  # noqa: B018  (another image: not built)


def test_from_dockerfile_takes_modal_build_options(context: Path) -> None:
    (context / "Dockerfile").write_text("FROM python:3.11-slim\nRUN echo hi\nCOPY app /srv/app\n")
    creds = nano_modal.Secret.from_dict({"REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "p"})
    image = Image.from_dockerfile(
        context / "Dockerfile", registry_secret=creds, env={"MODE": "x"}, ignore=["app/*.txt"], force_build=True
    )
    assert creds in image.base_secrets
    run, copy = image.steps
    assert run.secrets and "force_build" in dict(run.options)
    assert json.loads(dict(copy.options)["ignore"]) == ["*.txt"]
    with pytest.raises(InvalidError, match="add_python"):
        Image.from_dockerfile(context / "Dockerfile", add_python="3.11")


def test_from_registry_setup_commands_and_add_python() -> None:
    image = Image.from_registry("python:3.11-slim", setup_dockerfile_commands=["ENV A=1", "RUN true"])
    assert [s.kind for s in image.steps] == ["env", "run_commands"]
    with pytest.raises(InvalidError, match=r"add_python='3\.12'\) is not supported"):
        Image.from_registry("ubuntu:24.04", add_python="3.12")


def test_run_commands_mount_volumes_and_local_source_takes_ignore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = nano_modal.Volume.from_name("cache-for-build")
    step = Image.debian_slim().run_commands("du -sh /cache", volumes={"/cache": volume}).steps[-1]
    assert step.volumes == (("/cache", volume),)
    with pytest.raises(InvalidError):
        Image.debian_slim().run_commands("true", volumes={"relative": volume})
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "data.csv").write_text("1")
    monkeypatch.syspath_prepend(str(tmp_path))
    only_py = Image.debian_slim().add_local_python_source("mypkg", ignore=["*.csv"]).steps[-1]
    assert json.loads(dict(only_py.options)["ignore"]) == ["*.csv"]
    default = Image.debian_slim().add_local_python_source("mypkg").steps[-1]
    assert "__pycache__" in json.loads(dict(default.options)["ignore"])


def test_pip_install_private_repos_steps_run_in_a_shell(tmp_path: Path) -> None:
    import os
    import subprocess

    token = nano_modal.Secret.from_dict({"GITHUB_TOKEN": "t0k"})
    image = Image.debian_slim().pip_install_private_repos(
        "github.com/org/one@v1", "github.com/org/two#subdirectory=inner", git_user="bot", secrets=[token], pre=True
    )
    apt, run = image.steps
    assert apt.kind == "apt_install" and apt.args == ("git",)
    assert run.kind == "run_commands" and token in run.secrets
    # The commands as the builder runs them (sh -c), with a python3 that shows what pip was given.
    (tmp_path / "python3").write_text('#!/bin/sh\necho "$@"\n')
    (tmp_path / "python3").chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "GITHUB_TOKEN": "t0k"}
    check, _first, second = run.args
    assert subprocess.run(["sh", "-c", check], env=env).returncode == 0
    missing = subprocess.run(["sh", "-c", check], env={"PATH": env["PATH"]}, capture_output=True, text=True)
    assert missing.returncode == 1 and "GITHUB_TOKEN is not set" in missing.stderr
    shown = subprocess.run(["sh", "-c", second], env=env, capture_output=True, text=True).stdout.split()
    assert shown == [
        "-m", "pip", "install", "--no-cache-dir", "--pre", "git+https://bot:t0k@github.com/org/two#subdirectory=inner"
    ]  # fmt: skip
    with pytest.raises(InvalidError, match="secrets"):
        Image.debian_slim().pip_install_private_repos("github.com/org/one", git_user="bot")
    with pytest.raises(InvalidError, match=r"bitbucket\.org/x/y"):
        Image.debian_slim().pip_install_private_repos("bitbucket.org/x/y", git_user="bot", secrets=[token])


def test_uv_pip_install_takes_requirements_files_and_a_uv_version(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six==1.16.0  # pinned\n\nattrs\n")
    image = Image.debian_slim().uv_pip_install("rich", requirements=[tmp_path / "requirements.txt"], uv_version="0.5.1")
    uv, packages = image.steps
    assert uv.kind == "pip_install" and uv.args == ("uv==0.5.1",) and "uv" not in dict(uv.options)
    assert packages.args == ("rich", "six==1.16.0", "attrs") and dict(packages.options)["uv"] == "1"
    assert Image.debian_slim().uv_pip_install(uv_version="0.5.1") == Image.debian_slim()  # nothing to install


def test_run_function_takes_env_and_notes_cloud_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nano_modal import _porting_options

    monkeypatch.setattr(_porting_options, "_noted", set())
    step = Image.debian_slim().run_function(print, env={"MODE": "build"}, region="us-east-1").steps[-1]
    assert step.kind == "run_function" and len(step.secrets) == 1  # env travels as an in-code secret
    assert "Image.run_function(region=...) ignored" in capsys.readouterr().err


def test_force_build_says_whether_a_step_is_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NANO_MODAL_FORCE_BUILD", raising=False)
    assert not Image.debian_slim().run_commands("true").force_build
    assert Image.debian_slim().run_commands("true", force_build=True).env({"A": "1"}).force_build
    monkeypatch.setenv("NANO_MODAL_FORCE_BUILD", "1")
    assert Image.debian_slim().force_build


def test_run_function_limits_are_step_options_checked_when_defined() -> None:
    step = Image.debian_slim().run_function(print, cpu=0.5, memory=256, timeout=30).steps[-1]
    assert dict(step.options) == {"cpu": "0.5", "memory": "256", "timeout": "30"}
    assert Image.debian_slim().run_function(print).steps[-1].options == ()  # Modal's default timeout: nothing
    for bad in ({"cpu": -1}, {"memory": 0}, {"timeout": "10"}):
        with pytest.raises(InvalidError, match="must be a positive number"):
            Image.debian_slim().run_function(print, **bad)  # type: ignore[arg-type]


def test_run_function_refuses_a_bucket_mount_in_one_line() -> None:
    mount = nano_modal.CloudBucketMount("bkt")
    with pytest.raises(InvalidError, match="CloudBucketMount is not mounted in image build steps"):
        Image.debian_slim().run_function(print, volumes={"/b": mount})
