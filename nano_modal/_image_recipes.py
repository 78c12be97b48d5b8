"""Image methods that read Dockerfile instructions or need a worker: `dockerfile_commands` (and
the steps of `from_dockerfile`), `shell`, `from_scratch` and `build`. A mixin of Image, so that
image.py keeps to the steps themselves."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import config
from ._image_parts import RUN_FUNCTION_TIMEOUT, flatten, note_build_gpu, run_function_limits, step_secrets, with_volumes
from ._porting_options import note_ignored
from ._utils.aio import twin
from .config import is_remote
from .exception import ExecutionError, InvalidError
from .proto import api_pb2

if TYPE_CHECKING:
    from .app import App
    from .client import Client
    from .image import Image, Step


class ImageRecipes:
    _built_id: str  # the id `build()` found or made ("" until then): a field of Image

    def dockerfile_commands(
        self,
        *dockerfile_commands: str | list[str],
        context_files: dict[str, str] | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
        context_dir: str | Path | None = None,
        force_build: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = (),
        build_args: dict[str, str] | None = None,
    ) -> Image:
        """Extend the image with Dockerfile instructions (RUN, COPY, ENV, WORKDIR, ARG, ...; no FROM),
        read as `Image.from_dockerfile` reads them (nano_modal/dockerfile.py lists what is supported).
        COPY reads from `context_dir` (default: the current directory) and leaves out what its
        .dockerignore and `ignore` (patterns relative to the context, or a predicate on such a
        path) exclude. RUN steps see `env` and the variables of `secrets`; ARGs take `build_args`."""
        image = cast("Image", self)
        commands = flatten(dockerfile_commands)
        if not commands or is_remote():  # in a container: built from the client's files already
            return image
        if context_files:
            raise InvalidError(
                "dockerfile_commands(context_files=) is not supported: put the files under context_dir, "
                "which COPY reads"
            )
        from .dockerfile import parse_commands

        note_build_gpu("Image.dockerfile_commands", gpu)
        context = Path(context_dir if context_dir is not None else Path.cwd()).resolve()
        patterns = () if callable(ignore) else tuple(ignore)
        steps = parse_commands("\n".join(commands), context, build_args, patterns)
        predicate = ignore if callable(ignore) else None
        return apply_dockerfile_steps(image, steps, step_secrets(secrets or (), env), force_build, context, predicate)

    def pip_install_private_repos(
        self,
        *repositories: str,
        git_user: str,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        gpu: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Any] | None = None,
        force_build: bool = False,
    ) -> Image:
        """`pip install` from private GitHub or GitLab repositories ("github.com/org/repo@ref", with
        "#subdirectory=..." if need be), over HTTPS as `git_user` with the GITHUB_TOKEN or GITLAB_TOKEN
        of `secrets` (set only while the step runs). git is installed with apt first."""
        image = cast("Image", self)
        if not repositories:
            return image
        if not secrets:
            raise InvalidError("pip_install_private_repos needs secrets=[...] holding GITHUB_TOKEN or GITLAB_TOKEN")
        hosts = {"github.com": "GITHUB_TOKEN", "gitlab.com": "GITLAB_TOKEN"}
        invalid = [r for r in repositories if not isinstance(r, str) or r.split("/")[0] not in hosts]
        if invalid:
            raise InvalidError(f"pip_install_private_repos: not github.com/... or gitlab.com/... refs: {invalid}")
        if not re.fullmatch(r"[\w.-]+", git_user):
            raise InvalidError(f"pip_install_private_repos: git_user {git_user!r} is not a user name")
        tokens = sorted({hosts[r.split("/")[0]] for r in repositories})
        checks = [
            f'test -n "${var}" || {{ echo "{var} is not set by the secrets given" >&2; exit 1; }}' for var in tokens
        ]
        flags = [
            f"--{name.replace('_', '-')} {shlex.quote(value)}"
            for name, value in (
                ("find_links", find_links),
                ("index_url", index_url),
                ("extra_index_url", extra_index_url),
            )
            if value
        ]
        flags += ["--pre"] if pre else []
        flags += [extra_options] if extra_options else []
        pip = " ".join(["python3 -m pip install --no-cache-dir", *flags])
        installs = [f'{pip} "git+https://{git_user}:${hosts[r.split("/")[0]]}@{r}"' for r in repositories]
        with_git = image.apt_install("git", force_build=force_build)
        return with_git.run_commands(*checks, *installs, secrets=secrets, env=env, gpu=gpu, force_build=force_build)

    def run_function(
        self,
        raw_f: Callable[..., Any],
        *,
        secrets: Sequence[Any] = (),
        volumes: dict[str, Any] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        gpu: str | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        timeout: int = RUN_FUNCTION_TIMEOUT,
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        include_source: bool | None = None,
    ) -> Image:
        """Call `raw_f(*args, **kwargs)` inside the image at build time (e.g. to download model
        weights into it); what it writes becomes a layer. It travels pickled by value, so the
        image's Python must be the client's; its code and arguments are part of the cache key.
        `volumes` are mounted while it runs, and what it writes to them is committed after;
        `env` and the variables of `secrets` are set while it runs. `cpu` (cores) and `memory`
        (MiB) limit it, as a container's; it fails after `timeout` seconds (Modal's default: an
        hour). None of these three are part of the cache key."""
        from .image import Step, local_python

        image = cast("Image", self)
        if is_remote():
            return image
        note_build_gpu("Image.run_function", gpu)
        note_ignored("Image.run_function", {"region": region, "cloud": cloud, "include_source": include_source})
        mounts = with_volumes(volumes, "run_function")
        if image.base_kind == "debian" and image.python_version != local_python():
            raise InvalidError(
                f"run_function: the image has Python {image.python_version} but this client runs "
                f"{local_python()}; the function travels pickled and needs the same Python"
            )
        import cloudpickle

        module = sys.modules.get(raw_f.__module__)
        by_value = module is not None and raw_f.__module__ != "__main__"
        if by_value:  # the image need not contain the module the function comes from
            cloudpickle.register_pickle_by_value(module)
        try:
            payload = cloudpickle.dumps((raw_f, tuple(args), dict(kwargs or {})))
        finally:
            if by_value:
                cloudpickle.unregister_pickle_by_value(module)
        name = getattr(raw_f, "__qualname__", repr(raw_f))
        limits = run_function_limits(cpu, memory, timeout)
        step = Step("run_function", (name, base64.b64encode(payload).decode()), limits, step_secrets(secrets, env))
        return image._with(dataclasses.replace(step, volumes=mounts), force_build)

    def shell(self, shell_commands: list[str]) -> Image:
        """Not supported: build steps run with `/bin/sh -c`, as nano-modal's builder has no SHELL."""
        if not isinstance(shell_commands, list) or not all(isinstance(x, str) for x in shell_commands):
            raise InvalidError("Image.shell takes a list of strings")
        raise InvalidError(
            f"Image.shell({shell_commands!r}) is not supported: build steps run with /bin/sh -c; "
            "run another shell in the command itself (run_commands(\"bash -c '...'\"))"
        )

    @staticmethod
    def from_scratch(force_build: bool = False) -> Image:
        """Not supported: an empty image runs no functions or sandboxes (they need Python and a shell)
        and nano-modal has no `Sandbox.mount_image`, the one use Modal has for it."""
        del force_build
        raise InvalidError(
            "Image.from_scratch() is not supported: functions and sandboxes need an OS with Python, and "
            "nano-modal cannot mount an image into a sandbox; start from Image.debian_slim() or from_registry()"
        )

    @twin
    async def build(self, app: App | None = None) -> Image:
        """Build the image now on a worker (or find it built), showing its build log; raises
        ImageBuildError if a step fails. `object_id` is then the image's id, for `Image.from_id`.
        `app`: a running app to build under (its logs show the build); default: a scratch app."""
        from ._deploy_images import build_one
        from .client import Client

        image = cast("Image", self)
        client = await Client.get()
        spec = await image.to_proto(client)
        app_id = app.app_id if app is not None else None
        build_log = await build_one(client, spec, app_id)
        object.__setattr__(image, "_built_id", spec.image_id)  # Image is frozen; its id is not part of what it is
        object.__setattr__(image, "_build_log", build_log)
        return image

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None, client: Any = None) -> Image:
        """An image published with `publish()`, by `name` (`name:tag`; the tag `latest` if none).
        Its definition is fetched from the server when it is used, so any worker builds it (a
        cache hit where it was built); steps may be added on top, as to any image."""
        from ._image_names import full_image_tag
        from .image import Image

        del client  # one client per process
        return Image("named", ref=full_image_tag(name, environment_name))

    @twin
    async def publish(
        self,
        name: str,
        *,
        environment_name: str | None = None,
        experimental_options: dict[str, Any] | None = None,
        client: Any = None,
    ) -> None:
        """Publish this image's definition as `name` (`name:tag`; `latest` if no tag) in the
        workspace, for `Image.from_name`; publishing again under a tag replaces what it names.
        As in Modal, the image must have been built (`build()`) first."""
        from ._image_names import full_image_tag
        from .client import Client

        del client
        note_ignored("Image.publish", {"experimental_options": experimental_options})
        image = cast("Image", self)
        tag = full_image_tag(name, environment_name)
        if not self._built_id and image.base_kind != "id":
            raise InvalidError("Cannot publish an image that has not been built yet: call .build() first")
        connected = await Client.get()
        spec = await image.to_proto(connected)
        await connected.stub.ImagePublish(api_pb2.ImagePublishRequest(tag=tag, spec=spec))

    @twin
    async def hydrate(self) -> Image:
        """`build()`: an image is hydrated by being built."""
        return cast("Image", await self.build.aio())

    @property
    def force_build(self) -> bool:
        """Whether building this image rebuilds steps the cache holds: force_build=True on one of
        its steps (that step and those after it), or NANO_MODAL_FORCE_BUILD=1 (all)."""
        image = cast("Image", self)
        forced = any("force_build" in dict(step.options) for step in image.steps)
        return forced or os.environ.get(config.ENV_FORCE_BUILD) == "1"

    @property
    def object_id(self) -> str:
        """The image's id once `build()` has run (an `im-` id that `Image.from_id` takes)."""
        if not self._built_id:
            raise ExecutionError("the image is not built yet: call image.build() first")
        return self._built_id

    @property
    def client(self) -> Client:
        """The client that built this image; AttributeError before `build()`."""
        from .client import client_of

        return client_of(self, bool(self._built_id))


def refuse_add_python(add_python: str | None, where: str) -> None:
    if add_python is not None:
        raise InvalidError(
            f"{where}(add_python={add_python!r}) is not supported: nano-modal does not install a Python into an "
            "image; use an image that has python3 (python:<version>-slim) or Image.debian_slim()"
        )


def apply_dockerfile_steps(
    image: Image,
    steps: list[Step],
    secrets: tuple[Any, ...] = (),
    force_build: bool = False,
    context: Path | None = None,
    ignore: Callable[[Path], bool] | None = None,
) -> Image:
    """`image` with a parsed Dockerfile's steps: COPY bakes files into a layer (without the
    `ignore` predicate's paths, relative to `context`), the others become image steps."""
    for step in steps:
        if step.kind != "copy":
            if step.kind == "run_commands" and secrets:
                step = dataclasses.replace(step, secrets=secrets)
            image = image._with(step, force_build)
            continue
        source, dest = Path(step.args[0]), step.args[1]
        if dest.endswith("/") and source.is_file():
            dest += source.name
        patterns = tuple(json.loads(dict(step.options).get("ignore") or "[]"))  # from .dockerignore
        if ignore is None or context is None:
            image = image._add_local(source, dest, copy=True, ignore=patterns)
            continue
        base = source.relative_to(context)
        if source.is_file() and ignore(base):
            continue
        image = image._add_local(source, dest, copy=True, ignore=patterns, described=f"{ignore!r} under {base}")
        kept = _under(ignore, base)
        image = image._replace_last(dataclasses.replace(image.steps[-1], ignore_fn=kept))
    return image


def _under(ignore: Callable[[Path], bool], base: Path) -> Callable[[Path], bool]:
    """`ignore`, which takes paths relative to the context, for paths relative to `base` in it."""
    return lambda relative: ignore(base / relative)
