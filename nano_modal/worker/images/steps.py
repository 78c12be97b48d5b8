"""What each image step does to the image: commands run in its root, files copied into its
new layer, or only a change of the state later steps and containers see (env, workdir)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ... import config
from ...exception import InvalidError
from ...proto import api_pb2
from .overlay import run_in_root
from .step_limits import LIMIT_OPTIONS, LimitExceeded, StepLimits
from .store import ImageState, digest

Log = Callable[[str], None]
RUN_FUNCTION_DIR = "/opt/nano-modal/run"  # where a run_function step's pickled call is bound
RUN_FUNCTION_FILE = "call.pkl"
# A requirement's project name (PEP 508): what `modal==1.2`, `modal[extra]>=1` or `Modal` start with.
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?=\s*(?:$|[\[<>=!~;@ ]))")


class StepError(Exception):
    """A build step failed: names the step, its command and the tail of its output."""

    def __init__(self, what: str, command: str, tail: list[str]) -> None:
        output = "\n".join(f"    {line}" for line in tail) or "    (no output)"
        super().__init__(f"{what}\n  command: {command}\n  last output:\n{output}")


def step_key(parent: str, step: api_pb2.ImageStep) -> str:
    """A layer's cache key: its parent, the step, and the content of the files it copies."""
    options = step.options.items()
    if step.kind == "run_function":  # its cpu, memory and timeout limit the run, not the layer
        options = {k: v for k, v in options if k not in LIMIT_OPTIONS}.items()
    definition = json.dumps([step.kind, list(step.args), sorted(options)])
    return digest(parent, definition, step.content_hash)


def describe(step: api_pb2.ImageStep) -> str:
    if step.kind == "env":
        return "env " + " ".join(f"{k}={v}" for k, v in sorted(step.options.items()))
    if step.kind == "run_function":
        return f"run_function {step.args[0]}"
    if step.kind == "add_local":
        how = "copy" if step.options.get("copy") else "mount"
        return f"add_local {step.args[0]} -> {step.args[1]} ({how})"
    return f"{step.kind} {' '.join(step.args)}"


def commands(step: api_pb2.ImageStep, state: ImageState) -> list[str]:
    """The shell commands a step runs in the image."""
    opts = step.options
    if step.kind == "run_commands":
        return list(step.args)
    if step.kind == "run_function":
        code = (
            f"import sys; sys.path.append({config.IMAGE_DEPS_DIR!r}); import pickle; "
            f"f, a, k = pickle.load(open({RUN_FUNCTION_DIR + '/' + RUN_FUNCTION_FILE!r}, 'rb')); f(*a, **k)"
        )
        return [f"{state.python} -c {shlex.quote(code)}"]
    if step.kind == "apt_install":
        packages = shlex.join(step.args)
        return [
            "apt-get update -q",
            f"apt-get install -y -q --no-install-recommends {packages}",
            "rm -rf /var/lib/apt/lists/*",
        ]
    if step.kind == "pip_install":
        flags = ["--no-cache-dir"]
        if opts.get("index_url"):
            flags += ["--index-url", opts["index_url"]]
        if opts.get("extra_index_url"):
            flags += ["--extra-index-url", opts["extra_index_url"]]
        if opts.get("pre"):
            flags.append("--pre")
        if opts.get("find_links"):
            flags += ["--find-links", opts["find_links"]]
        flags += shlex.split(opts.get("extra_options", ""))  # Image.pip_install(extra_options="...")
        args = shlex.join([*flags, *step.args])
        pip = f"{state.python} -m pip install {args}"
        if opts.get("uv"):  # uv when the image has it; pip otherwise (same packages, slower)
            uv = f"uv pip install --python {state.python} {args}"
            fallback = "echo 'uv is not in the image: installing with pip'"
            return [f"if command -v uv >/dev/null; then {uv}; else {fallback}; {pip}; fi"]
        return [pip]
    return []


def apply_step(
    step: api_pb2.ImageStep,
    root: Path,
    state: ImageState,
    files: dict[str, Path],
    log: Log,
    secrets: dict[str, str] | None = None,
    binds: list[tuple[Path, str]] | None = None,
    writable: list[tuple[Path, str]] | None = None,
) -> ImageState:
    """Apply `step` to the image mounted (writable) at `root`; return the state after it.
    `secrets` are set while its commands run, and kept nowhere."""
    from .builder import clean_pip_env

    if step.kind == "env":
        values = dict(step.options)
        if "expand" in step.args:  # from a Dockerfile: ENV PATH=/opt/bin:${PATH} and the like
            values = {k: _expand(v, state.env) for k, v in values.items()}
        return replace(state, env={**state.env, **values})
    if step.kind == "workdir":
        (root / step.args[0].lstrip("/")).mkdir(parents=True, exist_ok=True)
        return replace(state, workdir=step.args[0])
    if step.kind == "entrypoint":
        return replace(state, entrypoint=list(step.args))
    if step.kind == "cmd":
        return replace(state, cmd=list(step.args))
    if step.kind == "add_local":
        _copy_in(files[step.content_hash], root, step)
        return state
    if step.kind not in ("run_commands", "apt_install", "pip_install", "run_function"):
        raise InvalidError(f"unknown image step {step.kind!r}")
    if step.kind == "pip_install":
        step = _without_modal(step, log)
        if not step.args:
            return state
    env = {**state.env, **clean_pip_env()} if step.kind != "run_commands" else {**clean_pip_env(), **state.env}
    env.update(secrets or {})
    for command in commands(step, state):
        log(f"$ {command}")
        try:
            tail_lines = config.IMAGE_STEP_TAIL_LINES
            limits = StepLimits.of(step)
            code, tail = run_in_root(root, command, env, state.workdir, log, tail_lines, binds, writable, limits)
        except LimitExceeded as exc:
            raise StepError(f"image step {describe(step)!r} {exc}", command, exc.tail) from None
        finally:
            _remove_mount_points(root, [*(binds or []), *(writable or [])])
        if code != 0:
            raise StepError(f"image step {describe(step)!r} failed with exit code {code}", command, tail)
    return state


def _without_modal(step: api_pb2.ImageStep, log: Log) -> api_pb2.ImageStep:
    """The pip step minus `modal` itself: in containers `import modal` is nano-modal's shim, and
    Modal's own client (which Modal apps install in their images) cannot work there."""
    kept = []
    for arg in step.args:
        name = _REQUIREMENT_NAME.match(arg)
        if name and re.sub(r"[-_.]+", "-", name.group(0)).lower() == "modal":
            log(f"pip_install: skipping {arg!r}: `import modal` in containers is nano-modal's")
        else:
            kept.append(arg)
    if len(kept) == len(step.args):
        return step
    trimmed = api_pb2.ImageStep()
    trimmed.CopyFrom(step)
    del trimmed.args[:]
    trimmed.args.extend(kept)
    return trimmed


def _remove_mount_points(root: Path, binds: list[tuple[Path, str]]) -> None:
    """The empty directories bwrap made to bind things at: not part of the layer."""
    for _, dest in binds:
        path = root / dest.lstrip("/")
        while path != root and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            path = path.parent


def _copy_in(tree: Path, root: Path, step: api_pb2.ImageStep) -> None:
    target = root / step.args[1].lstrip("/")
    if step.options.get("file"):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(next(tree.iterdir()), target)
    else:
        shutil.copytree(tree, target, symlinks=True, dirs_exist_ok=True)


def _expand(value: str, env: dict[str, str]) -> str:
    """${NAME} and $NAME replaced by the image's variables so far (unknown ones: empty)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)
