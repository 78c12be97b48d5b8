"""`nano-modal secret create/list/delete`. Values are never printed: not here, not anywhere."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..exception import AlreadyExistsError
from ..secret import Secret, parse_dotenv
from ._objects import ENV_OPTION, confirm, connected, console, fail, when

secret_cli = typer.Typer(
    help="Manage secrets: environment variables for functions, encrypted on the server.", no_args_is_help=True
)

PAIRS = typer.Argument(None, help="KEY=VALUE pairs")
DOTENV = typer.Option(None, "--from-dotenv", help="also read KEY=VALUE lines from this .env file")


@secret_cli.command("create")
def create(
    name: str = typer.Argument(..., help="the secret's name"),
    pairs: list[str] = PAIRS,
    from_dotenv: Path = DOTENV,
    force: bool = typer.Option(False, "--force", help="replace the variables of an existing secret"),
    env: str = ENV_OPTION,
) -> None:
    """Create a secret from KEY=VALUE pairs (and/or a .env file)."""
    variables: dict[str, str] = {}
    if from_dotenv is not None:
        if not from_dotenv.is_file():
            fail(f"no such file: {from_dotenv}")
        variables.update(parse_dotenv(from_dotenv.read_text()))
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"expected KEY=VALUE, got an argument without '=' (key {key[:40]!r})")
        variables[key] = value
    if not variables:
        fail("give at least one KEY=VALUE pair (or --from-dotenv FILE)")
    with connected():
        try:
            Secret.objects.create(name, variables, environment_name=env, overwrite=force)
        except AlreadyExistsError:
            fail(f"secret {name!r} already exists; pass --force to replace its variables")
    keys = ", ".join(sorted(variables))
    console.print(f"[green]✓[/green] {'updated' if force else 'created'} secret [bold]{name}[/bold] with keys: {keys}")
    console.print(f"use it with: @app.function(secrets=[nano_modal.Secret.from_name({name!r})])", highlight=False)


@secret_cli.command("list")
def list_secrets(env: str = ENV_OPTION) -> None:
    """List secrets: names and dates only."""
    with connected():
        found = Secret.objects.list(environment_name=env)
    table = Table("name", "created", "environment")
    for secret in found:
        table.add_row(secret.name or "", when(secret._created_at), secret._environment_name or "")
    console.print(table)


@secret_cli.command("delete")
def delete(
    name: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
    env: str = ENV_OPTION,
) -> None:
    """Delete a secret."""
    confirm(f"Delete secret {name!r}", yes)
    with connected():
        Secret.objects.delete(name, environment_name=env)
    console.print(f"[green]✓[/green] deleted secret [bold]{name}[/bold]")
