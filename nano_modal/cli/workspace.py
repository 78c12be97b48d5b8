"""`nano-modal workspace create/list` and `nano-modal token create`: workspaces keep apps,
calls and objects apart; each of their tokens reaches its own workspace only."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from ._objects import connected, console, when

workspace_cli = typer.Typer(
    help="Manage workspaces (needs the server's admin token): each has its own apps and objects.",
    no_args_is_help=True,
)


def _stub() -> Any:  # the client's stub: nano-modal errors, reconnection
    from .._utils.aio import run_blocking
    from ..client import Client

    return run_blocking(Client.get()).stub


@workspace_cli.command("create")
def create(name: str = typer.Argument(..., help="lowercase letters, digits and '-'")) -> None:
    """Create a workspace; then give its users a token: `nano-modal token create --workspace NAME`."""
    from .._utils.aio import run_blocking
    from ..proto import api_pb2

    with connected():
        run_blocking(_stub().WorkspaceCreate(api_pb2.WorkspaceCreateRequest(name=name)))
    console.print(f"[green]✓[/green] created workspace [bold]{name}[/bold]")


@workspace_cli.command("list")
def list_workspaces() -> None:
    """List the workspaces ("main" is the server admin token's own)."""
    from .._utils.aio import run_blocking
    from ..proto import api_pb2

    with connected():
        found = run_blocking(_stub().WorkspaceList(api_pb2.Empty()))
    table = Table("name", "created")
    for ws in found.workspaces:
        table.add_row(ws.name, when(ws.created_at))
    console.print(table)


def create_workspace_token(workspace: str, invoke_only: bool) -> None:
    """Create a token of a workspace (`nano-modal token create`); it is printed once, here, and never again."""
    from .._utils.aio import run_blocking
    from ..proto import api_pb2

    request = api_pb2.TokenCreateRequest(workspace=workspace, invoke_only=invoke_only)
    with connected():
        created = run_blocking(_stub().TokenCreate(request))
    kind = "invoke-only token" if invoke_only else "token"
    typer.echo(f"A new {kind} of workspace {created.workspace!r}; it is not shown again:", err=True)
    typer.echo(created.token)
