"""`nano-modal container ...` and `nano-modal shell`: look into running containers.

`exec` and `shell` attach this terminal to a command in a sandbox: with a pty (raw mode,
the remote side's echo and line editing) when stdin is a terminal, plain pipes otherwise,
so they also work in scripts: `echo data | nano-modal container exec sb-.. -- wc -c`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import shutil
import signal
import sys
import termios
import threading
import tty
from typing import Any

import typer
from rich.table import Table

from .. import config
from .._utils.aio import background_loop, iterate_blocking, run_blocking
from ..container.sandbox_agent import PTY_SIZE_ENV
from ..exception import Error
from ..proto import api_pb2
from ..sandbox import ContainerProcess, Sandbox
from .apps import _fail, _stub, console

container_cli = typer.Typer(help="List containers and sandboxes; exec into them, stop them.", no_args_is_help=True)


@container_cli.command("list")
def list_containers(show_all: bool = typer.Option(False, "--all", help="include exited containers")) -> None:
    """List function containers and sandboxes."""
    response = run_blocking(_stub().ContainerList(api_pb2.ContainerListRequest(include_finished=show_all)))
    table = Table("container id", "app", "function / sandbox", "state", "worker", "started")
    for c in sorted(response.containers, key=lambda c: c.started_at):
        what = f"sandbox {c.function_name}" if c.sandbox else c.function_name
        started = datetime.datetime.fromtimestamp(c.started_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(c.container_id, c.app_name or c.app_id, what, c.state, c.worker_id, started)
    console.print(table)


@container_cli.command()
def logs(
    container_id: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new lines"),
    lines: int = typer.Option(1000, "--lines", "-n", help="how many stored lines of its app to look through"),
) -> None:
    """Show one container's logs (a sandbox's: its entrypoint's output)."""
    stub = _stub()
    try:
        found = run_blocking(stub.ContainerList(api_pb2.ContainerListRequest(include_finished=True))).containers
        container = next((c for c in found if c.container_id == container_id), None)
        if container is None:
            raise typer.BadParameter(f"no container {container_id}", param_hint="CONTAINER_ID")
        request = api_pb2.AppLogsRequest(app_id=container.app_id, follow=follow, history=lines)
        for batch in iterate_blocking(stub.stream("AppLogs", request)):
            for line in batch.lines:
                if line.container_id == container_id and line.fd != config.LOG_SYNC_FD:
                    (sys.stdout if line.fd != 2 else sys.stderr).write(line.data)
            sys.stdout.flush()
            # The first batch is the stored history; a running app's stream would go on forever.
            if batch.app_done or not follow or _exited(stub, container_id):
                break
    except KeyboardInterrupt:
        pass
    except Error as exc:
        _fail(exc)


def _exited(stub: Any, container_id: str) -> bool:
    found = run_blocking(stub.ContainerList(api_pb2.ContainerListRequest())).containers
    return all(c.container_id != container_id for c in found)


@container_cli.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_command(
    ctx: typer.Context,
    container_id: str = typer.Argument(..., help="a sandbox's or container's id (`nano-modal container list`)"),
    pty: bool = typer.Option(None, "--pty/--no-pty", help="default: a pty when stdin is a terminal"),
    workdir: str = typer.Option(None, "--workdir", "-w", help="run the command in this directory"),
) -> None:
    """Run a command in a sandbox or a function's container: nano-modal container exec ID -- CMD [ARGS...]."""
    if not ctx.args:
        raise typer.BadParameter("give the command after --, e.g. -- bash", param_hint="CMD")
    try:
        sandbox = Sandbox(container_id)  # a sandbox's or a function container's id: exec checks it
        code = attach(sandbox, list(ctx.args), pty=sys.stdin.isatty() if pty is None else pty, workdir=workdir)
    except Error as exc:
        _fail(exc)
    raise typer.Exit(code)


@container_cli.command()
def stop(container_id: str) -> None:
    """Stop a container (a sandbox: terminate it)."""
    try:
        run_blocking(_stub().ContainerStop(api_pb2.ContainerStopRequest(container_id=container_id)))
    except Error as exc:
        _fail(exc)
    console.print(f"stopping {container_id}")


def attach(sandbox: Sandbox, argv: list[str], *, pty: bool, workdir: str | None = None) -> int:
    """Run `argv` in `sandbox` wired to this process's stdin/stdout/stderr; return its exit code."""
    env = {}
    if pty:
        size = shutil.get_terminal_size()
        env[PTY_SIZE_ENV] = f"{size.lines},{size.columns}"
    process: ContainerProcess[bytes] = sandbox.exec(*argv, pty=pty, text=False, workdir=workdir, env=env)
    outputs = [threading.Thread(target=_copy_out, args=(process.stdout, sys.stdout.buffer), daemon=True)]
    if not pty:  # a pty merges stderr into stdout
        outputs.append(threading.Thread(target=_copy_out, args=(process.stderr, sys.stderr.buffer), daemon=True))
    feeder = threading.Thread(target=_copy_in, args=(process,), daemon=True)
    raw = pty and sys.stdin.isatty()
    saved = termios.tcgetattr(sys.stdin.fileno()) if raw else None

    def resized(*_: object) -> None:  # in the main thread: hand the request to the SDK's loop, never block
        size = shutil.get_terminal_size()
        asyncio.run_coroutine_threadsafe(process.stdin._resize(size.lines, size.columns), background_loop())

    try:
        if raw:
            tty.setraw(sys.stdin.fileno())
            signal.signal(signal.SIGWINCH, resized)
        for thread in outputs:
            thread.start()
        feeder.start()
        code: int = process.wait()
        for thread in outputs:
            thread.join(5)
    finally:
        if saved is not None:
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
    return code


def _copy_out(stream: Any, out: Any) -> None:
    with contextlib.suppress(Error, OSError, ValueError):
        for chunk in stream._raw_chunks():
            out.write(chunk)
            out.flush()


def _copy_in(process: ContainerProcess[bytes]) -> None:
    with contextlib.suppress(Error, OSError, ValueError):
        while data := os.read(sys.stdin.fileno(), 4096):
            process.stdin.write(data)
            process.stdin.drain()
        process.stdin.write_eof()
        process.stdin.drain()
