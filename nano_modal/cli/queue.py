"""`nano-modal queue create/list/peek/len/clear/delete`."""

from __future__ import annotations

import itertools

import typer
from rich.table import Table

from ..queue import Queue
from ..serialization import _short_repr
from ._objects import ENV_OPTION, confirm, connected, console, when

queue_cli = typer.Typer(help="Manage Queues: persistent FIFO queues with partitions.", no_args_is_help=True)
PARTITION = typer.Option(None, "--partition", "-p", help="a named partition (default: the default one)")


@queue_cli.command("create")
def create(name: str, env: str = ENV_OPTION) -> None:
    """Create a named Queue."""
    with connected():
        Queue.objects.create(name, environment_name=env)
    console.print(f"[green]✓[/green] created Queue [bold]{name}[/bold]")


@queue_cli.command("list")
def list_queues(env: str = ENV_OPTION) -> None:
    """List named Queues, with how many items each holds."""
    with connected():
        found = Queue.objects.list(environment_name=env)
        sizes = [q.len(total=True) for q in found]
    table = Table("name", "items", "created", "environment")
    for q, size in zip(found, sizes, strict=True):
        table.add_row(q.name or "", str(size), when(q._created_at), q._environment_name or "")
    console.print(table)


@queue_cli.command("peek")
def peek(
    name: str, n: int = typer.Argument(1, help="how many"), partition: str = PARTITION, env: str = ENV_OPTION
) -> None:
    """Show the next N items without removing them."""
    with connected():
        q = Queue.from_name(name, environment_name=env)
        items = list(itertools.islice(q.iterate(partition=partition), n))
    for item in items:
        console.print(_short_repr(item, 200), highlight=False)
    if not items:
        console.print("[dim](empty)[/dim]")


@queue_cli.command("len")
def length(
    name: str,
    partition: str = PARTITION,
    total: bool = typer.Option(False, "--total", "-t", help="count every partition"),
    env: str = ENV_OPTION,
) -> None:
    """Print the number of items in a partition (or, with --total, in all of them)."""
    with connected():
        console.print(Queue.from_name(name, environment_name=env).len(partition=partition, total=total))


@queue_cli.command("clear")
def clear(
    name: str,
    partition: str = PARTITION,
    all: bool = typer.Option(False, "--all", "-a", help="clear every partition"),
    yes: bool = typer.Option(False, "--yes", "-y"),
    env: str = ENV_OPTION,
) -> None:
    """Remove every item of a partition (or, with --all, of every partition)."""
    confirm(f"Remove the items of Queue {name!r}", yes)
    with connected():
        Queue.from_name(name, environment_name=env).clear(partition=partition, all=all)
    console.print(f"[green]✓[/green] cleared Queue [bold]{name}[/bold]")


@queue_cli.command("delete")
def delete(name: str, yes: bool = typer.Option(False, "--yes", "-y"), env: str = ENV_OPTION) -> None:
    """Delete a Queue and its items."""
    confirm(f"Delete Queue {name!r}", yes)
    with connected():
        Queue.objects.delete(name, environment_name=env)
    console.print(f"[green]✓[/green] deleted Queue [bold]{name}[/bold]")
