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


MAX_CONTAINERS = typer.Option(0, "--max-containers", help="live containers at once (0: no limit)")
MAX_CPU = typer.Option(0.0, "--max-cpu", help="cpu its live containers may reserve (0: no limit)")
MAX_MEMORY = typer.Option(0, "--max-memory", help="MiB its live containers may reserve (0: no limit)")


def _limits(max_containers: int, max_cpu: float, max_memory: int) -> Any:
    from ..proto import api_pb2

    return api_pb2.WorkspaceLimits(max_containers=max_containers, max_cpu=max_cpu, max_memory_mb=max_memory)


@workspace_cli.command("create")
def create(
    name: str = typer.Argument(..., help="lowercase letters, digits and '-'"),
    max_containers: int = MAX_CONTAINERS,
    max_cpu: float = MAX_CPU,
    max_memory: int = MAX_MEMORY,
) -> None:
    """Create a workspace; then give its users a token: `nano-modal token create --workspace NAME`."""
    from .._utils.aio import run_blocking
    from ..proto import api_pb2

    request = api_pb2.WorkspaceCreateRequest(name=name, limits=_limits(max_containers, max_cpu, max_memory))
    with connected():
        run_blocking(_stub().WorkspaceCreate(request))
    console.print(f"[green]✓[/green] created workspace [bold]{name}[/bold]")


@workspace_cli.command("limits")
def limits(
    name: str = typer.Argument(..., help="the workspace ('main': the server admin token's own)"),
    max_containers: int = MAX_CONTAINERS,
    max_cpu: float = MAX_CPU,
    max_memory: int = MAX_MEMORY,
) -> None:
    """Set what a workspace's live containers may hold at once; past it, new ones wait."""
    from .._utils.aio import run_blocking
    from ..proto import api_pb2

    request = api_pb2.WorkspaceSetLimitsRequest(name=name, limits=_limits(max_containers, max_cpu, max_memory))
    with connected():
        run_blocking(_stub().WorkspaceSetLimits(request))
    console.print(f"[green]✓[/green] limits of [bold]{name}[/bold]: {_describe(request.limits)}")


def _describe(limits: Any) -> str:
    parts = [
        f"{limits.max_containers} container{'s' if limits.max_containers != 1 else ''}"
        if limits.max_containers
        else "",
        f"cpu {limits.max_cpu:g}" if limits.max_cpu else "",
        f"{limits.max_memory_mb:,} MiB" if limits.max_memory_mb else "",
    ]
    return ", ".join(p for p in parts if p) or "none"


@workspace_cli.command("list")
def list_workspaces() -> None:
    """List the workspaces ("main" is the server admin token's own), their limits and use now."""
    from .._utils.aio import run_blocking
    from ..proto import api_pb2

    with connected():
        found = run_blocking(_stub().WorkspaceList(api_pb2.Empty()))
    table = Table("name", "created", "containers", "cpu", "memory (MiB)", "limits")
    for ws in found.workspaces:
        table.add_row(
            ws.name, when(ws.created_at), str(ws.containers), f"{ws.cpu:g}", f"{ws.memory_mb:,}", _describe(ws.limits)
        )
    console.print(table)


def new_workspace_token(workspace: str, invoke_only: bool) -> Any:
    """A new token of `workspace` (this token's own if ""), as TokenCreate answers it: the server
    keeps its digest only."""
    from .._utils.aio import run_blocking
    from ..proto import api_pb2

    request = api_pb2.TokenCreateRequest(workspace=workspace, invoke_only=invoke_only)
    with connected():
        return run_blocking(_stub().TokenCreate(request))


def create_workspace_token(workspace: str, invoke_only: bool) -> None:
    """Create a token of a workspace (`nano-modal token create`); it is printed once, here, and never again."""
    created = new_workspace_token(workspace, invoke_only)
    kind = "invoke-only token" if invoke_only else "token"
    typer.echo(f"A new {kind} of workspace {created.workspace!r}; it is not shown again:", err=True)
    typer.echo(created.token)
