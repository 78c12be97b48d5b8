"""`nano-modal volume create/list/ls/put/get/rm/cp/delete`."""

from __future__ import annotations

import posixpath
import sys
from pathlib import Path

import typer
from rich.table import Table

from ..volume import FileEntryType, Volume
from ._objects import ENV_OPTION, confirm, connected, console, fail, when

volume_cli = typer.Typer(help="Manage Volumes: persistent file systems that functions mount.", no_args_is_help=True)

LOCAL_PATH = typer.Argument(..., help="a local file or directory")
COPY_PATHS = typer.Argument(..., help="SOURCE... DESTINATION")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return str(n)


@volume_cli.command("create")
def create(name: str, env: str = ENV_OPTION) -> None:
    """Create a named Volume."""
    with connected():
        Volume.objects.create(name, environment_name=env)
    console.print(f"[green]✓[/green] created Volume [bold]{name}[/bold]")
    console.print(f"mount it with: @app.function(volumes={{'/data': nano_modal.Volume.from_name({name!r})}})")


@volume_cli.command("list")
def list_volumes(env: str = ENV_OPTION) -> None:
    """List named Volumes."""
    with connected():
        found = Volume.objects.list(environment_name=env)
    table = Table("name", "created", "environment")
    for v in found:
        table.add_row(v.name or "", when(v._created_at), v._environment_name or "")
    console.print(table)


@volume_cli.command("ls")
def ls(
    name: str,
    path: str = typer.Argument("/", help="a directory (or file) in the volume"),
    recursive: bool = typer.Option(False, "--recursive", "-r"),
    env: str = ENV_OPTION,
) -> None:
    """List files and directories, as of the latest commit."""
    with connected():
        entries = Volume.from_name(name, environment_name=env).listdir(path, recursive=recursive)
    table = Table("path", "type", "size", "modified")
    for e in entries:
        is_dir = e.type == FileEntryType.DIRECTORY
        table.add_row(
            e.path + ("/" if is_dir else ""),
            "dir" if is_dir else "file",
            "" if is_dir else _size(e.size),
            when(e.mtime),
        )
    console.print(table)


@volume_cli.command("put")
def put(
    name: str,
    local_path: Path = LOCAL_PATH,
    remote_path: str = typer.Argument("/", help="where in the volume (a directory if it ends with '/')"),
    force: bool = typer.Option(False, "--force", "-f", help="overwrite files that exist in the volume"),
    env: str = ENV_OPTION,
) -> None:
    """Upload a file or a directory."""
    if not local_path.exists():
        fail(f"no such local file or directory: {local_path}")
    with connected():
        vol = Volume.from_name(name, environment_name=env)
        with vol.batch_upload(force=force) as batch:
            if local_path.is_dir():
                batch.put_directory(local_path, remote_path)
            else:
                target = posixpath.join(remote_path, local_path.name) if remote_path.endswith("/") else remote_path
                batch.put_file(local_path, target)
    console.print(f"[green]✓[/green] uploaded {local_path} to {name}:{remote_path}")


@volume_cli.command("get")
def get(
    name: str,
    remote_path: str = typer.Argument(..., help="a file or directory in the volume"),
    local_path: str = typer.Argument(".", help="where to put it locally; '-' writes a file to stdout"),
    force: bool = typer.Option(False, "--force", "-f", help="overwrite local files"),
    env: str = ENV_OPTION,
) -> None:
    """Download a file or a directory."""
    with connected():
        vol = Volume.from_name(name, environment_name=env)
        entries = vol.listdir(remote_path, recursive=True)
        clean = remote_path.strip("/")
        single = len(entries) == 1 and entries[0].type == FileEntryType.FILE and entries[0].path == clean
        if local_path == "-":
            if not single:
                fail(f"{remote_path} is a directory: give a local directory instead of '-'")
            for chunk in vol.read_file(clean):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        base = Path(local_path)
        files = [e for e in entries if e.type == FileEntryType.FILE]
        for e in files:
            if single:
                target = base / posixpath.basename(e.path) if base.is_dir() else base
            else:
                rel = e.path[len(clean) :].lstrip("/") if clean else e.path
                target = base / posixpath.basename(clean) / rel if clean else base / rel
            if target.exists() and not force:
                fail(f"{target} exists; pass --force to overwrite it")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as f:
                vol.read_file_into_fileobj(e.path, f)
    console.print(f"[green]✓[/green] downloaded {len(files)} file(s) from {name}:{remote_path}", highlight=False)


@volume_cli.command("rm")
def rm(
    name: str,
    path: str,
    recursive: bool = typer.Option(False, "--recursive", "-r", help="remove a directory and everything in it"),
    env: str = ENV_OPTION,
) -> None:
    """Remove a file (or, with -r, a directory)."""
    with connected():
        Volume.from_name(name, environment_name=env).remove_file(path, recursive=recursive)
    console.print(f"[green]✓[/green] removed {name}:{path}")


@volume_cli.command("cp")
def cp(
    name: str,
    paths: list[str] = COPY_PATHS,
    recursive: bool = typer.Option(False, "--recursive", "-r", help="copy directories"),
    env: str = ENV_OPTION,
) -> None:
    """Copy files within a volume."""
    if len(paths) < 2:
        fail("give at least one source and a destination")
    with connected():
        Volume.from_name(name, environment_name=env).copy_files(paths[:-1], paths[-1], recursive=recursive)
    console.print(f"[green]✓[/green] copied {', '.join(paths[:-1])} to {name}:{paths[-1]}")


@volume_cli.command("delete")
def delete(name: str, yes: bool = typer.Option(False, "--yes", "-y"), env: str = ENV_OPTION) -> None:
    """Delete a Volume and all of its files."""
    confirm(f"Delete Volume {name!r} and all of its files", yes)
    with connected():
        Volume.objects.delete(name, environment_name=env)
    console.print(f"[green]✓[/green] deleted Volume [bold]{name}[/bold]")
