"""`Image`: the container image a function runs in, defined in code, as in Modal.

An image is a base (a Debian root filesystem with a given Python, a registry image or a
Dockerfile) and a list of steps. Nothing is built on the client: the definition travels
with the function and the worker builds it, one cached layer per step (docs/IMAGES.md).

    image = (
        nano_modal.Image.debian_slim(python_version="3.11")
        .apt_install("curl")
        .pip_install("requests")
        .env({"MODE": "prod"})
        .add_local_dir("static", "/app/static")
    )

    @app.function(image=image)
    def f() -> str: ...

Functions without `image=` run on the worker's own Python, as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from secrets import token_hex
from typing import TYPE_CHECKING, Any, Unpack

from . import config
from ._image_digest import digest_of_definition
from ._image_parts import (
    PipOptions,
    absolute_path,
    flatten,
    note_build_gpu,
    step_options,
    step_secrets,
    with_volumes,
)
from ._image_projects import ImageProjects
from ._image_recipes import ImageRecipes, apply_dockerfile_steps, refuse_add_python
from .config import is_remote
from .exception import InvalidError

if TYPE_CHECKING:
    from ._image_logs import ImageLogsManager
    from .client import Client
    from .proto import api_pb2

# Python versions a Debian release ships as its python3 (what `debian_slim` can offer).
# 3.10 and 3.12, which no Debian release ships, come from the Ubuntu release that does
# (worker/images/ubuntu.py), Debian's sibling with the same apt, dpkg and layout.
DEBIAN_PYTHONS = {"3.9": "bullseye", "3.10": "jammy", "3.11": "bookworm", "3.12": "noble", "3.13": "trixie"}
STEP_KINDS = (
    "pip_install",
    "apt_install",
    "run_commands",
    "run_function",
    "env",
    "workdir",
    "entrypoint",
    "cmd",
    "add_local",
)
DEFAULT_IGNORE = ("__pycache__", "*.pyc", ".git", ".venv", "node_modules")


@dataclass(frozen=True)
class Step:
    """One step of an image: `kind` (STEP_KINDS, or "copy" from a Dockerfile), positional
    string `args` and sorted string `options`. Plain data, so that it hashes stably."""

    kind: str
    args: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    # nano_modal.Secret objects whose variables the step runs with (not part of the cache key)
    secrets: tuple[Any, ...] = field(default=(), compare=False)
    # run_function: (mount path, nano_modal.Volume) pairs it sees while it runs (not part of the cache key)
    volumes: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    # add_local: a predicate (FilePatternMatcher or any callable) on relative paths; True leaves one out
    ignore_fn: Callable[[Path], bool] | None = field(default=None, compare=False)


def force_token(force_build: bool) -> str:
    """For force_build=True (or NANO_MODAL_FORCE_BUILD=1, Modal's MODAL_FORCE_BUILD): a cache key
    part no cached layer or base has, so it is built again; "" otherwise."""
    return token_hex(8) if force_build or os.environ.get(config.ENV_FORCE_BUILD) == "1" else ""


def local_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def debian_suite(python_version: str) -> str:
    """The Debian release whose python3 is `python_version` (major.minor)."""
    parts = python_version.split(".")
    short = ".".join(parts[:2])
    if short not in DEBIAN_PYTHONS:
        offered = ", ".join(f"{v} ({s})" for v, s in DEBIAN_PYTHONS.items())
        raise InvalidError(f"no Debian or Ubuntu release provides Python {python_version}; available: {offered}")
    return DEBIAN_PYTHONS[short]


@dataclass(frozen=True)
class Image(ImageRecipes, ImageProjects):
    """A container image: a base and the steps to apply on top of it (immutable; every
    method returns a new Image)."""

    base_kind: str  # "debian" | "registry" | "id" | "named" (Image.from_name: ref is the full tag)
    python_version: str = ""  # debian: major.minor
    ref: str = ""  # registry: image reference; id: the image id
    steps: tuple[Step, ...] = field(default_factory=tuple)
    base_secrets: tuple[Any, ...] = field(default=(), compare=False)  # registry: its credentials
    base_force_build: str = ""  # force_build=True on the base: a token no cached base has (force_token)
    # What `imports()` blocks swallowed (Modal's attribute): shared with the images made from this one, as in Modal
    inside_exceptions: list[Exception] = field(default_factory=list, compare=False, repr=False)
    _built_id: str = field(default="", init=False, compare=False, repr=False)  # build()'s id (_image_recipes.py)
    # build()'s (app, sandbox) whose logs hold its build log (Image.logs, _image_logs.py)
    _build_log: tuple[str, str] = field(default=("", ""), init=False, compare=False, repr=False)

    # ------------------------------------------------------------------ bases

    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        """Debian with `python_version` (default: the local major.minor) as its python3, and pip.
        Only versions a release ships are offered: 3.9, 3.11, 3.13 from Debian, 3.10 and 3.12
        from Ubuntu (jammy, noble). `force_build=True` builds the base again, and so every step."""
        version = python_version or local_python()
        debian_suite(version)
        return Image("debian", ".".join(version.split(".")[:2]), base_force_build=force_token(force_build))

    @staticmethod
    def python(version: str) -> Image:
        """Shorthand for `Image.debian_slim(python_version=version)`."""
        return Image.debian_slim(version)

    @staticmethod
    def from_registry(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: Sequence[str] = (),
        add_python: str | None = None,
        force_build: bool = False,
    ) -> Image:
        """An image from a container registry, e.g. `Image.from_registry("python:3.11-slim")`.
        It must contain python3 for functions to run in it. A private registry's credentials
        come from `secret`, a Secret with REGISTRY_USERNAME and REGISTRY_PASSWORD (as in Modal).
        `setup_dockerfile_commands`: Dockerfile lines applied first (as `dockerfile_commands`).
        `force_build=True` pulls the image again (not from the worker's cache), and builds every step."""
        refuse_add_python(add_python, "Image.from_registry")
        if not tag or any(c.isspace() for c in tag):
            raise InvalidError(f"invalid image reference {tag!r}")
        credentials = step_secrets([secret] if secret is not None else [])
        image = Image("registry", ref=tag, base_secrets=credentials, base_force_build=force_token(force_build))
        return image.dockerfile_commands(list(setup_dockerfile_commands))

    @staticmethod
    def from_dockerfile(
        path: str | Path,
        context_dir: str | Path | None = None,
        *,
        build_args: dict[str, str] | None = None,
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Any] = (),
        gpu: str | None = None,
        ignore: Sequence[str] | Callable[[Path], bool] = (),
        registry_secret: Any = None,
        add_python: str | None = None,
    ) -> Image:
        """The image a one-stage Dockerfile describes: its FROM image (pulled with `registry_secret`'s
        credentials), then its RUN/ENV/WORKDIR/COPY... as steps (nano_modal/dockerfile.py lists what
        is supported). COPY sources are read from `context_dir` (default: the Dockerfile's directory),
        less what .dockerignore and `ignore` exclude, and baked into layers. RUN steps see `env` and
        the variables of `secrets`; `force_build` rebuilds the steps (the base comes from the cache)."""
        from .dockerfile import parse_dockerfile

        refuse_add_python(add_python, "Image.from_dockerfile")
        if is_remote():  # built from the client's files already; they are not here
            return Image("registry", ref=f"dockerfile:{path}")
        dockerfile = Path(path)
        if not dockerfile.is_file():
            raise InvalidError(f"Dockerfile {str(path)!r} does not exist")
        note_build_gpu("Image.from_dockerfile", gpu)
        context = (Path(context_dir) if context_dir is not None else dockerfile.parent).resolve()
        patterns = () if callable(ignore) else tuple(ignore)
        base_ref, steps = parse_dockerfile(dockerfile.read_text(), context, build_args, patterns)
        base = Image.from_registry(base_ref, secret=registry_secret)
        predicate = ignore if callable(ignore) else None  # COPY bakes files in, as Docker's
        return apply_dockerfile_steps(base, steps, step_secrets(secrets, env), force_build, context, predicate)

    @staticmethod
    def from_id(image_id: str) -> Image:
        """An image a worker has built before (see `nano-modal image list`)."""
        if not image_id.startswith("im-"):
            raise InvalidError(f"invalid image id {image_id!r}: image ids start with 'im-'")
        return Image("id", ref=image_id)

    # ------------------------------------------------------------------ steps

    def _with(self, step: Step, force_build: bool = False) -> Image:
        if self.base_kind == "id":
            raise InvalidError("an image from Image.from_id() cannot be extended")
        if token := force_token(force_build):  # the step (and every step after it) is built again
            step = dataclasses.replace(step, options=step_options({**dict(step.options), "force_build": token}))
        mounted = any(s.kind == "add_local" and not dict(s.options).get("copy") for s in self.steps)
        if mounted and not (step.kind == "add_local" and not dict(step.options).get("copy")):
            # Mounted files arrive when containers start: a build step could not see them.
            raise InvalidError(
                f"image step {step.kind} comes after add_local_* without copy=True: put those last, "
                "or pass copy=True to bake the files into the image"
            )
        return dataclasses.replace(self, steps=(*self.steps, step))

    def pip_install(
        self,
        *packages: str | list[str],
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        secrets: Sequence[Any] = (),
        force_build: bool = False,
        find_links: str | None = None,
        extra_options: str = "",
        env: dict[str, str | None] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """`pip install` packages into the image's Python (`secrets`: e.g. a private index's token;
        `env`: variables set while it runs; `extra_options`: more pip flags, as one string).
        `force_build=True` (on any build step, or NANO_MODAL_FORCE_BUILD=1 for all) ignores the cache."""
        names = flatten(packages)
        if not names:
            return self
        note_build_gpu("Image.pip_install", gpu)
        options = {
            "index_url": index_url or "",
            "extra_index_url": extra_index_url or "",
            "pre": "1" if pre else "",
            "find_links": find_links or "",
            "extra_options": extra_options,
        }
        step = Step("pip_install", tuple(names), step_options(options), step_secrets(secrets, env))
        return self._with(step, force_build)

    def uv_pip_install(
        self,
        *packages: str | list[str],
        requirements: Sequence[str | Path] | None = None,
        uv_version: str | None = None,
        **options: Unpack[PipOptions],
    ) -> Image:
        """As `pip_install` (and `pip_install_from_requirements` for each file of `requirements`),
        with uv when the image has it, pip otherwise (same result, slower); `uv_version`: install
        that uv first, so that it is used."""
        names = flatten(packages)
        for path in requirements or ():
            names += requirements_of(path)
        base = self.pip_install(f"uv=={uv_version}", **options) if uv_version and names else self
        image = base.pip_install(*names, **options)
        if image is base:
            return self
        last = image.steps[-1]
        uv = step_options({**dict(last.options), "uv": "1"})
        return image._replace_last(Step(last.kind, last.args, uv, last.secrets))

    def _replace_last(self, step: Step) -> Image:
        return dataclasses.replace(self, steps=(*self.steps[:-1], step))

    def pip_install_from_requirements(self, requirements_txt: str | Path, **kwargs: Unpack[PipOptions]) -> Image:
        """`pip install -r requirements_txt`: the file is read now, on the client."""
        if is_remote():  # the image was built from the client's files; they are not here
            return self
        return self.pip_install(*requirements_of(requirements_txt), **kwargs)

    def pip_install_from_pyproject(
        self, pyproject_toml: str | Path, optional_dependencies: Sequence[str] = (), **kwargs: Unpack[PipOptions]
    ) -> Image:
        """Install the `[project] dependencies` (and the named optional groups) of a pyproject.toml."""
        if is_remote():  # the image was built from the client's files; they are not here
            return self
        path = Path(pyproject_toml).expanduser()
        if not path.is_file():
            raise InvalidError(f"pyproject file {str(pyproject_toml)!r} does not exist")
        project = tomllib.loads(path.read_text()).get("project", {})
        packages = list(project.get("dependencies", []))
        for group in optional_dependencies:
            if group not in project.get("optional-dependencies", {}):
                raise InvalidError(f"{path}: no optional dependency group {group!r}")
            packages += project["optional-dependencies"][group]
        return self.pip_install(*packages, **kwargs)

    def apt_install(
        self,
        *packages: str | list[str],
        secrets: Sequence[Any] = (),
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """`apt-get install -y` Debian packages (needs a Debian/Ubuntu-based image)."""
        names = flatten(packages)
        if not names:
            return self
        note_build_gpu("Image.apt_install", gpu)
        return self._with(Step("apt_install", tuple(names), (), step_secrets(secrets, env)), force_build)

    def run_commands(
        self,
        *commands: str | list[str],
        secrets: Sequence[Any] = (),
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        gpu: str | None = None,
        volumes: dict[str, Any] | None = None,
    ) -> Image:
        """Run shell commands (as root, with network, in the image) at build time, with the
        variables of `secrets` and `env` set (they are not stored in the image), and `volumes`
        mounted (what the commands write to them is committed after, as for run_function)."""
        cmds = flatten(commands)
        if not cmds:
            return self
        note_build_gpu("Image.run_commands", gpu)
        step = Step("run_commands", tuple(cmds), (), step_secrets(secrets, env), with_volumes(volumes, "run_commands"))
        return self._with(step, force_build)

    def pipe(self, func: Callable[..., Image], *args: Any, **kwargs: Any) -> Image:
        """`func(self, *args, **kwargs)`: a reusable recipe in the middle of a chain of steps."""
        image = func(self, *args, **kwargs)
        if not isinstance(image, Image):
            raise InvalidError(f"Image.pipe: {getattr(func, '__name__', func)!r} must return an Image")
        return image

    def env(self, vars: dict[str, str]) -> Image:
        """Set environment variables in the image (for later steps and for containers)."""
        for key, value in vars.items():
            if not isinstance(key, str) or not key or "=" in key or not isinstance(value, str):
                raise InvalidError(f"env: names and values must be strings, names without '=': {key!r}")
        return self._with(Step("env", (), tuple(sorted(vars.items()))))

    def workdir(self, path: str | PurePosixPath) -> Image:
        """The working directory of later steps and of containers (created if missing)."""
        return self._with(Step("workdir", (absolute_path(str(path), "workdir"),)))

    def entrypoint(self, entrypoint_commands: list[str]) -> Image:
        """The image's entrypoint (recorded; functions still run through nano-modal's own)."""
        if not isinstance(entrypoint_commands, list) or not all(isinstance(c, str) for c in entrypoint_commands):
            raise InvalidError("entrypoint takes a list of strings")
        return self._with(Step("entrypoint", tuple(entrypoint_commands)))

    def cmd(self, cmd: list[str]) -> Image:
        """The image's default command (`CMD`), recorded as a Dockerfile's is."""
        if not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd):
            raise InvalidError("cmd takes a list of strings")
        return self._with(Step("cmd", tuple(cmd)))

    def add_local_file(self, local_path: str | Path, remote_path: str, *, copy: bool = False) -> Image:
        """Put a local file at `remote_path` (a directory if it ends with "/"). Without copy it is
        mounted when containers start (changing it does not rebuild anything); with copy=True
        it is baked into a layer, so later steps can use it."""
        if is_remote():  # the image was built from the client's files; they are not here
            return self
        path = Path(local_path).expanduser()
        if not path.is_file():
            raise InvalidError(f"add_local_file: {str(local_path)!r} is not a file")
        if remote_path.endswith("/"):
            remote_path += path.name
        return self._add_local(path, remote_path, copy=copy, ignore=())

    def add_local_dir(
        self,
        local_path: str | Path,
        remote_path: str,
        *,
        copy: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = (),
    ) -> Image:
        """Put a local directory's contents at `remote_path`. `ignore` holds glob patterns
        matched against each entry's path relative to the directory (and its name), or is a
        predicate on that relative path (a `FilePatternMatcher`, or any callable: True leaves it out)."""
        if is_remote():  # the image was built from the client's files; they are not here
            return self
        path = Path(local_path).expanduser()
        if not path.is_dir():
            raise InvalidError(f"add_local_dir: {str(local_path)!r} is not a directory")
        if callable(ignore):
            image = self._add_local(path, remote_path, copy=copy, ignore=(), described=repr(ignore))
            return image._replace_last(dataclasses.replace(image.steps[-1], ignore_fn=ignore))
        return self._add_local(path, remote_path, copy=copy, ignore=tuple(ignore))

    def add_local_python_source(
        self, *modules: str, copy: bool = False, ignore: Sequence[str] | Callable[[Path], bool] | None = None
    ) -> Image:
        """Make local Python packages/modules importable in the image (under /root, which is on
        the containers' path), found the way `import` would find them here. `ignore` (as
        add_local_dir's) leaves files of a package out; by default caches, .git and virtualenvs."""
        if is_remote():  # the image was built from the client's files; they are not here
            return self
        image = self
        for module in modules:
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin in (None, "built-in", "frozen"):
                raise InvalidError(f"add_local_python_source: module {module!r} is not importable from a local file")
            if spec.submodule_search_locations:  # a package: its directory
                source = Path(next(iter(spec.submodule_search_locations)))
                image = image.add_local_dir(
                    source, f"/root/{module}", copy=copy, ignore=DEFAULT_IGNORE if ignore is None else ignore
                )
            else:
                source = Path(str(spec.origin))
                image = image._add_local(source, f"/root/{source.name}", copy=copy, ignore=())
        return image

    def _add_local(
        self, source: Path, remote: str, *, copy: bool, ignore: tuple[str, ...], described: str = ""
    ) -> Image:
        options = {
            "copy": "1" if copy else "",
            "file": "1" if source.is_file() else "",
            "ignore": json.dumps(list(ignore)) if ignore else "",
            "ignore_fn": described,  # a predicate, by its repr: the archive's hash says what it kept
        }
        step = Step("add_local", (str(source.resolve()), absolute_path(remote, "remote_path")), step_options(options))
        return self._with(step)

    @property
    def logs(self) -> ImageLogsManager:
        """The build log of this image's `build()`: `tail(entries=100)`, `fetch(layers=1)`."""
        from ._image_logs import ImageLogsManager

        return ImageLogsManager(self)

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """Imports of packages that exist only in the image: failures are raised in this
        image's containers, and swallowed elsewhere (locally, where the package may be
        missing, and in containers of other functions with other images, which import the
        same module). What is swallowed is kept in `inside_exceptions`."""
        try:
            yield
        except ImportError as exc:
            running = os.environ.get(config.ENV_RUNNING_IMAGE)
            if is_remote() and (running is None or running == self._definition_digest()):
                raise
            self.inside_exceptions.append(exc)

    def _definition_digest(self) -> str:
        """What identifies the image without building it or reading local files, the same from
        this object and from its ImageSpec (`spec_definition_digest`)."""
        steps = []
        for step in self.steps:
            args = list(step.args)
            if step.kind == "run_function":
                args = args[:1]  # the pickle travels as a blob
            elif step.kind == "add_local":
                args[0] = Path(args[0]).name
            steps.append([step.kind, args, sorted(dict(step.options).items())])
        return digest_of_definition([self.base_kind, self.python_version, self.ref, steps])

    # ------------------------------------------------------------------ wire format

    async def to_proto(self, client: Client) -> api_pb2.ImageSpec:
        """The definition sent with the function; local files are uploaded as blobs."""
        from ._image_proto import image_spec

        return await image_spec(self, client)


def requirements_of(requirements_txt: str | Path) -> list[str]:
    """The requirements a requirements file lists, read now, on the client ([] in a container)."""
    if is_remote():  # the image was built from the client's files; they are not here
        return []
    path = Path(requirements_txt).expanduser()
    if not path.is_file():
        raise InvalidError(f"requirements file {str(requirements_txt)!r} does not exist")
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    if any(line.startswith(("-r", "-c", "--requirement", "--constraint")) for line in lines):
        raise InvalidError(f"{path}: nested -r/-c files are not supported; list the packages directly")
    return [line for line in lines if line]


def check_python(image: Image, by_value: bool, name: str) -> None:
    """A function pickled by value must be unpickled by the Python it was pickled with."""
    if by_value and image.base_kind == "debian" and image.python_version != local_python():
        raise InvalidError(
            f"{name}: the image has Python {image.python_version} but this client runs {local_python()}; "
            "a function defined in __main__ (or with serialized=True) travels pickled and needs the same "
            f"Python: use Image.debian_slim(python_version={local_python()!r}) or move the function to a module"
        )
