"""The `nano-modal` command."""

from __future__ import annotations

import contextlib
import sys

import typer

from .. import config
from ..version import __version__

cli = typer.Typer(
    name="nano-modal",
    help="Run Python functions remotely, in containers, on your own machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
from .apps import app_cli  # noqa: E402

token_cli = typer.Typer(help="Manage the credentials this machine uses to reach a server.", no_args_is_help=True)
cli.add_typer(token_cli, name="token")
cli.add_typer(app_cli, name="app")
# Objects: secrets, volumes, dicts, queues (cli/secret.py, volume.py, dict.py, queue.py).
from .dict import dict_cli  # noqa: E402
from .queue import queue_cli  # noqa: E402
from .secret import secret_cli  # noqa: E402
from .volume import volume_cli  # noqa: E402

cli.add_typer(secret_cli, name="secret")
cli.add_typer(volume_cli, name="volume")
cli.add_typer(dict_cli, name="dict")
cli.add_typer(queue_cli, name="queue")
from .container import container_cli  # noqa: E402

cli.add_typer(container_cli, name="container")

from .image import image_cli  # noqa: E402

cli.add_typer(image_cli, name="image")
from .workspace import workspace_cli  # noqa: E402

cli.add_typer(workspace_cli, name="workspace")


@cli.command()
def serve(
    func_ref: str = typer.Argument(..., help="path.py of the app to serve"),
    timeout: float = typer.Option(None, "--timeout", help="stop after this many seconds (default: never)"),
) -> None:
    """Run an app and reload it whenever its files change (web endpoints, functions, classes)."""
    from .serve import serve as serve_app

    with contextlib.suppress(KeyboardInterrupt):
        serve_app(func_ref, timeout)


@cli.command()
def deploy(
    func_ref: str = typer.Argument(..., help="path.py of the app to deploy"),
    name: str = typer.Option(None, "--name", help="deploy under this name instead of the App's"),
    tag: str = typer.Option("", "--tag", help="a label for this version, shown by `app history`"),
) -> None:
    """Deploy an app: it keeps running after this command exits."""
    from .apps import deploy as deploy_app

    deploy_app(func_ref, name, tag)


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    func_ref: str = typer.Argument(..., help="path.py, or path.py::name of a local entrypoint or function"),
) -> None:
    """Run an app's local entrypoint (or one function) with the app live; extra --options go to it.

    With no server configured, it runs on the local server and worker on loopback (started
    on demand, shared by later runs, stopped once idle; `nano-modal server status`).
    """
    from .run import run as run_app

    run_app(func_ref, list(ctx.args))


@cli.command()
def shell(
    func_ref: str = typer.Argument(None, help="path.py::function: open the shell set up like its containers"),
    cmd: str = typer.Option(None, "--cmd", "-c", help="run this command (sh -c) instead of an interactive shell"),
    pty: bool = typer.Option(None, "--pty/--no-pty", help="default: a pty for an interactive shell on a terminal"),
    image: str = typer.Option(None, "--image", help="a registry image to open the shell in (instead of a function)"),
) -> None:
    """A shell in a sandbox with a function's secrets, resources and image, or in --image (or a bare one)."""
    from .shell import shell as open_shell

    raise typer.Exit(open_shell(func_ref, cmd, pty, image))


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def server(ctx: typer.Context) -> None:
    """Run the control plane (see `nano-modal server --help`); `server status` / `server stop`: the
    local server that runs without a server configured use."""
    if ctx.args in (["status"], ["stop"]):
        from .. import embedded

        typer.echo(embedded.status() if ctx.args == ["status"] else embedded.stop())
        return
    from ..server.main import main as server_main

    server_main(list(ctx.args))


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def worker(ctx: typer.Context) -> None:
    """Run a worker that starts containers for a server (see `nano-modal worker --help`)."""
    from ..worker.main import main as worker_main

    worker_main(list(ctx.args))


@token_cli.command("set")
def token_set(
    server_url: str = typer.Option(..., "--server", help="host:port of the server"),
    token: str = typer.Option(..., "--token", help="the token the server printed at its first start"),
) -> None:
    """Save the server address and token to the config file."""
    path = config.write_client_config(server_url, token)
    typer.echo(f"saved to {path}")


@token_cli.command("show")
def token_show() -> None:
    """Show which server this machine uses, and where the token comes from (never the token itself)."""
    cfg = config.client_config()
    source = "environment" if config.ENV_TOKEN in __import__("os").environ else str(config.config_file())
    if cfg.server_url is None:
        typer.echo("server: (none configured: runs use an embedded server on loopback)")
    else:
        typer.echo(f"server: {cfg.server_url}")
    typer.echo(f"token:  {'set, from ' + source if cfg.token else 'not set'}")


@token_cli.command("create")
def token_create(
    workspace: str = typer.Option("", "--workspace", "-w", help="the token's workspace (default: this token's)"),
    invoke_only: bool = typer.Option(
        False, "--invoke-only", help="may only look up and call functions of deployed apps (application servers)"
    ),
    modal: bool = typer.Option(False, "--modal", help="a pair for the real `modal` client (MODAL_TOKEN_ID/SECRET)"),
) -> None:
    """Create a token of a workspace (shown once), or with --modal a pair for the real `modal` client."""
    from .. import _modal_token
    from ._modal_client import check_pair
    from .workspace import create_workspace_token, new_workspace_token

    if not modal:
        create_workspace_token(workspace, invoke_only)
        return
    cfg = config.client_config()
    if cfg.server_url is None or cfg.token is None:
        typer.echo("no server configured: `nano-modal token set --server HOST:PORT --token <admin token>`", err=True)
        raise typer.Exit(1)
    if workspace:  # the secret is a new token of the workspace: the server learns it from there
        token_id, secret = _modal_token.new_id(invoke_only), new_workspace_token(workspace, invoke_only).token
    else:  # derived from the admin token: the default workspace's
        token_id, secret = _modal_token.new_pair(cfg.token, invoke_only)
    problem = check_pair(cfg.server_url, token_id, secret)
    if problem:
        typer.echo(f"nano-modal: {problem}", err=True)
        raise typer.Exit(1)
    where = f" of workspace {workspace!r}" if workspace else ""
    typer.echo(f"# For the `modal` client{where}; the secret is not shown again:")
    typer.echo(f"export MODAL_SERVER_URL=http://{cfg.server_url}")
    typer.echo(f"export MODAL_TOKEN_ID={token_id}")
    typer.echo(f"export MODAL_TOKEN_SECRET={secret}")


@token_cli.command("create-proxy")
def token_create_proxy() -> None:
    """Create a key/secret pair for your workspace's web endpoints with requires_proxy_auth=True (shown once)."""
    from .._utils.aio import run_blocking
    from ..client import Client
    from ..proto import api_pb2

    client = run_blocking(Client.get())
    created = run_blocking(client.stub.ProxyTokenCreate(api_pb2.Empty()))
    typer.echo("Send these headers with each request; the secret is not shown again:")
    typer.echo(f"  Modal-Key: {created.key}")
    typer.echo(f"  Modal-Secret: {created.secret}")


@cli.command()
def dashboard() -> None:
    """Print the address of the server's dashboard (apps, functions, containers, workers, logs)."""
    from .. import embedded
    from .._utils.aio import run_blocking
    from ..client import Client

    cfg = config.client_config()
    if cfg.server_url is None and not embedded.running():
        typer.echo("No server is configured and the local one is not running: it starts with the next run.")
        typer.echo("Or start one with `nano-modal server` and point this machine at it with `nano-modal token set`.")
        raise typer.Exit(1)
    client = run_blocking(Client.get())  # the local server's, when none is configured
    typer.echo(f"dashboard: {client.web_base_url}/_/")
    typer.echo(f"metrics:   {client.web_base_url}/_/metrics  (Authorization: Bearer <admin token>)")
    if cfg.server_url is None:
        typer.echo(f"Sign in with the local server's token, kept in {embedded.local_dir() / 'token'}.")
    else:
        typer.echo("Sign in with the server's admin token (printed at its first start; in <state-dir>/admin_token).")


@cli.command()
def version() -> None:
    """Print the nano-modal version."""
    typer.echo(f"nano-modal {__version__} (protocol v{config.PROTOCOL_VERSION}, Python {sys.version.split()[0]})")


def main() -> None:
    """The command, with the usual mistakes said in one line on stderr, never a traceback: typer
    catches only the errors of the click it bundles, not those of `click` the project raises
    (cli/run.py), nor a server that is down or a missing token."""
    import click

    from ..exception import AuthError, ConnectionError

    try:
        cli()
    except click.ClickException as exc:
        print(f"Error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (ConnectionError, AuthError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
