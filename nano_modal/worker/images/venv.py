"""Images on the `process` runtime, which has no root filesystem to give: a best effort.

The image's pip packages go into a virtual environment of the worker's own Python (with the
worker's site directories visible underneath, for the SDK's dependencies), cached under
images/venvs/ by the list of pip steps; its `env` variables are set. Everything else cannot
be honoured and is reported in the build log: apt_install and run_commands (they would
change the host), workdir (containers run in their own temporary directory), add_local_*
(no private filesystem to put files in), entrypoint/cmd, and the image's Python version (the
worker's runs). Use the bwrap runtime for real images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ...proto import api_pb2
from .steps import StepError, commands, describe
from .store import ImageState, Store, digest

CANNOT = {
    "apt_install": "it would install into the host",
    "run_commands": "they would run on the host",
    "workdir": "containers run in their own temporary directory",
    "add_local": "there is no private filesystem to put files in",
    "entrypoint": "functions run through nano-modal's entrypoint",
    "cmd": "functions run through nano-modal's entrypoint",
}


# In the image's venv: puts the worker's site directories after the venv's own.
WORKER_SITE_PTH = "nano-modal-worker-site.pth"


def worker_site_dirs() -> list[str]:
    """The site directories the worker's Python imports from: its venv's, its base's when the venv
    includes them, the user site; in sys.path's order."""
    return [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]


def _purelib(python: Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def prepare_venv(store: Store, spec: api_pb2.ImageSpec, log: Callable[[str], None]) -> tuple[str, dict[str, str]]:
    """(python to run, environment to add) for a container of `spec` on the process runtime."""
    log(f"runtime 'process': image {spec.image_id} approximated by a virtual environment of the worker's Python")
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if spec.base.kind != "debian" or spec.base.python_version != host:
        log(f"  ignored: the base ({spec.base.kind} {spec.base.ref or spec.base.python_version}): Python {host} runs")
    env: dict[str, str] = {}
    pip_steps = []
    for step in spec.steps:
        if step.kind == "env":
            env.update(step.options)
        elif step.kind == "pip_install":
            pip_steps.append(step)
        else:
            log(f"  ignored: {describe(step)} ({CANNOT.get(step.kind, 'not supported here')})")
    if not pip_steps:
        return sys.executable, env
    definition = json.dumps([[list(s.args), sorted(s.options.items())] for s in pip_steps])
    sites = worker_site_dirs()
    final = store.root / "venvs" / digest("venv", sys.version, sys.executable, definition, *sites)
    python = final / "bin" / "python"
    if final.exists():
        log("  virtual environment (cached)")
        return str(python), env
    final.parent.mkdir(exist_ok=True)
    with store.staging(final) as tmp:
        # Renamed into place when complete: only `python -m ...` is used, which finds the
        # environment from the interpreter's own location.
        # Not --system-site-packages: made from a venv's python, that shows the base interpreter's
        # site-packages, not the venv's (grpc, protobuf: containers failed to import the SDK).
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
        # After its own pip is in. addsitedir, not bare paths: their .pth files (editable installs) count too.
        line = f"import site; list(map(site.addsitedir, {sites!r}))\n"
        (Path(_purelib(tmp / "bin" / "python")) / WORKER_SITE_PTH).write_text(line)
        state = ImageState(python=str(tmp / "bin" / "python"))
        for step in pip_steps:
            for command in commands(step, state):
                log(f"  $ {command}")
                proc = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
                tail = (proc.stdout + proc.stderr).splitlines()[-30:]
                if proc.returncode != 0:
                    raise StepError(
                        f"image step {describe(step)!r} failed with exit code {proc.returncode}", command, tail
                    )
    return str(python), env
