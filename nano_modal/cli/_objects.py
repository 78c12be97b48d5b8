"""What the object subcommands (secret, volume, dict, queue) share: connecting, errors, tables."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator

import typer
from rich.console import Console

from .. import config
from ..exception import Error

console = Console()
err_console = Console(stderr=True)

ENV_OPTION = typer.Option(None, "--env", "-e", help="environment (default: $NANO_MODAL_ENVIRONMENT or 'main')")


def when(ts: float | None) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def fail(message: str) -> None:
    err_console.print(f"[red]Error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@contextlib.contextmanager
def connected() -> Iterator[None]:
    """Objects live on a server: refuse to start a throw-away embedded one; print errors plainly."""
    if config.client_config().server_url is None:
        fail(
            f"no server configured: set {config.ENV_SERVER_URL} or run `nano-modal token set` "
            "(objects live on a server; a run's embedded server keeps none after it exits)"
        )
    try:
        yield
    except Error as exc:
        fail(str(exc))
    except (FileNotFoundError, FileExistsError, KeyError) as exc:
        fail(f"{type(exc).__name__}: {exc}")


def confirm(what: str, yes: bool) -> None:
    if not yes and not typer.confirm(f"{what}? This cannot be undone", default=False):
        raise typer.Exit(1)
