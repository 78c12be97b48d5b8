"""`nano-modal dict create/list/items/get/clear/delete`."""

from __future__ import annotations

import itertools

import typer
from rich.table import Table

from ..dict import Dict
from ..serialization import _short_repr
from ._objects import ENV_OPTION, confirm, connected, console, fail, when

dict_cli = typer.Typer(help="Manage Dicts: persistent key-value stores.", no_args_is_help=True)


@dict_cli.command("create")
def create(name: str, env: str = ENV_OPTION) -> None:
    """Create a named Dict."""
    with connected():
        Dict.objects.create(name, environment_name=env)
    console.print(f"[green]✓[/green] created Dict [bold]{name}[/bold]")


@dict_cli.command("list")
def list_dicts(env: str = ENV_OPTION) -> None:
    """List named Dicts."""
    with connected():
        found = Dict.objects.list(environment_name=env)
    table = Table("name", "created", "environment")
    for d in found:
        table.add_row(d.name or "", when(d._created_at), d._environment_name or "")
    console.print(table)


@dict_cli.command("items")
def items(name: str, n: int = typer.Argument(20, help="show at most this many"), env: str = ENV_OPTION) -> None:
    """Show the first N items (keys and values as Python reprs)."""
    with connected():
        d = Dict.from_name(name, environment_name=env)
        rows = list(itertools.islice(d.items(), n))
        total = d.len()
    table = Table("key", "value", caption=f"{len(rows)} of {total} items")
    for key, value in rows:
        table.add_row(_short_repr(key, 60), _short_repr(value, 100))
    console.print(table)


@dict_cli.command("get")
def get(name: str, key: str, env: str = ENV_OPTION) -> None:
    """Print the value of a key (given as a string)."""
    with connected():
        d = Dict.from_name(name, environment_name=env)
        found, value = d.contains(key), d.get(key)
    if not found:
        fail(f"KeyError: {key!r} is not in Dict {name!r}")
    console.print(repr(value), highlight=False)


@dict_cli.command("clear")
def clear(name: str, yes: bool = typer.Option(False, "--yes", "-y"), env: str = ENV_OPTION) -> None:
    """Remove every item of a Dict."""
    confirm(f"Remove every item of Dict {name!r}", yes)
    with connected():
        Dict.from_name(name, environment_name=env).clear()
    console.print(f"[green]✓[/green] cleared Dict [bold]{name}[/bold]")


@dict_cli.command("delete")
def delete(name: str, yes: bool = typer.Option(False, "--yes", "-y"), env: str = ENV_OPTION) -> None:
    """Delete a Dict and its items."""
    confirm(f"Delete Dict {name!r}", yes)
    with connected():
        Dict.objects.delete(name, environment_name=env)
    console.print(f"[green]✓[/green] deleted Dict [bold]{name}[/bold]")
