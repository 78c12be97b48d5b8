"""`nano-modal deploy` and `nano-modal app ...`: deployed apps, their versions and logs."""

from __future__ import annotations

import datetime
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .. import config
from .._utils.aio import iterate_blocking, run_blocking
from ..client import Client
from ..exception import Error
from ..proto import api_pb2
from ._where import say_where

app_cli = typer.Typer(help="Manage deployed apps: list, history, rollback, stop, logs.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 160)  # pipes get whole ids, not ellipses


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _stub() -> Any:
    return run_blocking(Client.get()).stub


def _fail(exc: Error) -> None:
    console.print(f"[red]Error:[/red] {exc}", soft_wrap=True)
    raise typer.Exit(1)


def deploy(ref: str, name: str | None, tag: str) -> None:
    from ._web_urls import endpoint_urls
    from .run import find_app, import_app_module

    path = ref.partition("::")[0]
    module = import_app_module(path)
    app = find_app(module)
    say_where(run_blocking(Client.get()))
    try:
        app.deploy(name=name, tag=tag)
    except Error as exc:
        _fail(exc)
    app_name = name or app.name
    console.print(f"[green]✓[/green] deployed [bold]{app_name}[/bold] as v{app.deployed_version} ({app.app_id})")
    for fn_name in app.registered_functions:
        console.print(f"  • {fn_name}   nano_modal.Function.from_name({app_name!r}, {fn_name!r})")
    for endpoint, url in endpoint_urls(app, app_name or app.description, run_blocking(Client.get())):
        console.print(f"  • {endpoint}   {url}", soft_wrap=True)
    console.print(f"logs: nano-modal app logs {app_name} --follow")


@app_cli.command("list")
def list_apps(show_all: bool = typer.Option(False, "--all", help="include stopped apps")) -> None:
    """List deployed and running apps."""
    response = run_blocking(_stub().AppList(api_pb2.AppListRequest(live_only=not show_all)))
    table = Table("app id", "name", "state", "version", "functions", "containers", "created")
    for a in response.apps:
        if a.state == "stopped" and not show_all:
            continue
        state = {"deployed": "[green]deployed[/green]", "stopped": "[dim]stopped[/dim]"}.get(a.state, a.state)
        version = f"v{a.version}" if a.version else "-"
        table.add_row(
            a.app_id, a.name, state, version, ", ".join(a.function_names), str(a.live_containers), _when(a.created_at)
        )
    console.print(table)


@app_cli.command()
def history(name: str) -> None:
    """Show every deployment of an app."""
    try:
        response = run_blocking(_stub().AppHistory(api_pb2.AppHistoryRequest(name=name)))
    except Error as exc:
        _fail(exc)
    table = Table("version", "deployed at", "tag", "functions")
    for d in response.deployments:
        table.add_row(f"v{d.version}", _when(d.created_at), d.tag, ", ".join(d.function_names))
    console.print(table)


@app_cli.command()
def rollback(name: str, version: str = typer.Argument("", help="vN to restore; default: the previous one")) -> None:
    """Deploy an earlier version again (as a new version)."""
    number = int(version.lstrip("v")) if version else 0
    try:
        response = run_blocking(_stub().AppRollback(api_pb2.AppRollbackRequest(name=name, version=number)))
    except Error as exc:
        _fail(exc)
    console.print(f"[green]✓[/green] {name} rolled back; now at v{response.version}")


@app_cli.command()
def stop(name: str) -> None:
    """Stop a deployed app: its containers stop, calls to it fail."""
    stub = _stub()
    try:
        summary = run_blocking(stub.AppLookup(api_pb2.AppLookupRequest(name=name)))
        run_blocking(stub.AppStop(api_pb2.AppStopRequest(app_id=summary.app_id)))
    except Error as exc:
        _fail(exc)
    console.print(f"stopped {name} ({summary.app_id})")


@app_cli.command()
def logs(
    name: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new lines"),
    lines: int = typer.Option(200, "--lines", "-n", help="how many stored lines to show first"),
) -> None:
    """Show an app's logs (by name of a deployed app, or by app id)."""
    stub = _stub()
    try:
        app_id = (
            name if name.startswith("ap-") else run_blocking(stub.AppLookup(api_pb2.AppLookupRequest(name=name))).app_id
        )
        request = api_pb2.AppLogsRequest(app_id=app_id, follow=follow, history=lines)
        for batch in iterate_blocking(stub.stream("AppLogs", request)):
            for line in batch.lines:
                if line.fd == config.LOG_SYNC_FD:  # for a caller's .remote(), not a line (container/log_sync.py)
                    continue
                stamp = datetime.datetime.fromtimestamp(line.timestamp).strftime("%H:%M:%S")
                text = line.data if line.data.endswith("\n") else line.data + "\n"
                out = sys.stdout if line.fd != 2 else sys.stderr
                out.write(f"{stamp} [{line.function_name} {line.container_id[-6:]}] {text}")
            if batch.app_done:
                break
    except KeyboardInterrupt:
        pass
    except Error as exc:
        _fail(exc)
