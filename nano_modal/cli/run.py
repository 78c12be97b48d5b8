"""`nano-modal run path.py[::name]`: import a user's app and run one of its entrypoints."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import click

from .._utils.aio import run_blocking
from ..app import App, LocalEntrypoint
from ..client import Client
from ..exception import InvalidError
from ..functions import Function
from ._where import say_where


def import_app_module(ref: str) -> Any:
    """Import `path/to/file.py` (as a module named after the file) or a dotted module path."""
    if ref.endswith(".py") or "/" in ref:
        path = Path(ref).resolve()
        if not path.exists():
            raise click.UsageError(f"no such file: {ref}")
        if path.is_dir():
            raise click.UsageError(f"{ref} is a directory; give the app's .py file")
        sys.path.insert(0, str(path.parent))
        module_name = path.stem
    else:
        sys.path.insert(0, str(Path.cwd()))
        module_name = ref
    return importlib.import_module(module_name)


def find_app(module: Any) -> App:
    apps = {name: value for name, value in vars(module).items() if isinstance(value, App)}
    if "app" in apps:
        return apps["app"]
    if len(apps) == 1:
        return next(iter(apps.values()))
    if not apps:
        raise click.UsageError(f"{module.__name__} defines no nano_modal.App")
    raise click.UsageError(f"{module.__name__} defines several apps ({', '.join(apps)}); name one `app`")


def pick_target(app: App, name: str) -> LocalEntrypoint | Function:
    entrypoints, functions = app.registered_entrypoints, app.registered_functions
    if name:
        target = entrypoints.get(name) or functions.get(name)
        if target is None:
            known = ", ".join([*entrypoints, *functions]) or "none"
            raise click.UsageError(f"{name!r} is not an entrypoint or function of this app (known: {known})")
        return target
    if len(entrypoints) == 1:
        return next(iter(entrypoints.values()))
    if not entrypoints and len(functions) == 1:
        return next(iter(functions.values()))
    choices = ", ".join([*entrypoints, *functions]) or "none"
    raise click.UsageError(f"say which to run, as path.py::NAME (choices: {choices})")


def _option_for(param: inspect.Parameter) -> click.Option:
    """A `--name` option for one parameter of the entrypoint, typed from its annotation or default."""
    annotation = param.annotation
    default = param.default
    required = default is inspect.Parameter.empty
    kind: Any = annotation if annotation in (int, float, str, bool) else None
    if kind is None and not required and default is not None:
        kind = type(default) if type(default) in (int, float, str, bool) else str
    if isinstance(annotation, str):  # postponed annotations
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(annotation, str)
    kind = kind or str
    flag = "--" + param.name.replace("_", "-")
    if kind is bool:
        return click.Option(
            [f"{flag}/--no-{param.name.replace('_', '-')}"], default=bool(default) if not required else False
        )
    return click.Option([flag, param.name], type=kind, required=required, default=None if required else default)


def parse_entrypoint_args(target: LocalEntrypoint | Function, args: list[str]) -> dict[str, Any]:
    raw = target.raw_f
    params = [p for p in inspect.signature(raw).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    command = click.Command(raw.__name__, params=[_option_for(p) for p in params])
    ctx = command.make_context(raw.__name__, list(args))
    return dict(ctx.params)


def run_target(target: LocalEntrypoint | Function, kwargs: dict[str, Any]) -> Any:
    if isinstance(target, Function):
        if target.is_generator:
            for value in target.remote_gen(**kwargs):
                print(value)
            return None
        return target.remote(**kwargs)
    result = target.raw_f(**kwargs)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return result


def run(ref: str, args: list[str]) -> None:
    path, _, name = ref.partition("::")
    module = import_app_module(path)
    app = find_app(module)
    target = pick_target(app, name)
    try:
        kwargs = parse_entrypoint_args(target, args)
    except click.ClickException as exc:
        raise click.UsageError(f"{exc.format_message()} (entrypoint {target.raw_f.__name__})") from None
    if not isinstance(target, LocalEntrypoint | Function):
        raise InvalidError(f"cannot run {target!r}")
    say_where(run_blocking(Client.get()))
    with app.run():
        result = run_target(target, kwargs)
    if result is not None and isinstance(target, Function):
        print(result)
