"""`nano-modal shell [path.py::function | --image REF]`: a shell in a sandbox set up like that
function's containers, or in a registry image."""

from __future__ import annotations

import sys

import click
import typer

from .._definition import FunctionOptions
from ..app import App
from ..cls import Cls
from ..exception import Error
from ..functions import Function
from ..image import Image
from ..sandbox import Sandbox
from .apps import console
from .container import attach
from .run import find_app, import_app_module

SHELL_TIMEOUT = 3600.0  # seconds a shell's sandbox lives at most (it is terminated on exit anyway)


def _target(ref: str) -> tuple[App, FunctionOptions]:
    path, _, name = ref.partition("::")
    app = find_app(import_app_module(path))
    targets: dict[str, Function | Cls] = {**app.registered_functions, **app.registered_classes}
    if not name and len(targets) == 1:
        name = next(iter(targets))
    if name not in targets:
        known = ", ".join(targets) or "none"
        raise click.UsageError(f"say which function's container to open, as path.py::NAME (choices: {known})")
    options: FunctionOptions = targets[name].options
    return app, options


def shell(ref: str | None, cmd: str | None, pty: bool | None, image_ref: str | None = None) -> int:
    if ref and image_ref:
        raise click.UsageError("give a function (path.py::NAME) or --image, not both")
    app, options = _target(ref) if ref else (App("nano-modal-shell"), FunctionOptions())
    if image_ref:  # a registry image (or oci:/path, docker-archive:/path.tar), as Image.from_registry takes
        options.image = Image.from_registry(image_ref)
    use_pty = (cmd is None and sys.stdin.isatty()) if pty is None else pty
    argv = ["sh", "-c", cmd] if cmd is not None else ["bash", "-i"] if use_pty else ["bash"]
    try:
        with app.run(show_logs=False):
            sandbox = Sandbox.create(
                app=app,
                image=options.image,
                secrets=options.secrets,
                volumes=options.volumes,
                cpu=options.cpu,
                memory=options.memory,
                block_network=options.block_network,
                timeout=SHELL_TIMEOUT,
            )
            try:
                return attach(sandbox, argv, pty=use_pty)
            finally:
                sandbox.terminate()
    except Error as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
