"""`nano-modal image list | rm | prune`: the image cache of the workers on this machine.

Images are built and kept by workers ($NANO_MODAL_IMAGES_DIR, default
$NANO_MODAL_HOME/images), so these commands act on this machine's cache, not a server's.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .volume import _size as human

image_cli = typer.Typer(help="List and remove the images built on this machine.", no_args_is_help=True)


def _store() -> Any:
    from ..worker.images.store import Store

    return Store()


def _size(store: Any, rec: dict[str, Any]) -> int:
    """Bytes of the image's base and layers (each read from its metadata, no disk walk)."""
    total = 0
    paths = [store.base_dir(rec["base"]["key"]) / "base.json"]
    paths += [store.layer_dir(key) / "layer.json" for key in rec.get("layers", [])]
    for path in paths:
        if path.exists():
            total += int(json.loads(path.read_text()).get("size", 0))
    return total


def _base_name(base: dict[str, Any]) -> str:
    if base.get("kind") == "debian":
        return f"debian {base.get('suite')} (python {base.get('python')})"
    return str(base.get("ref", "?"))


@image_cli.command("list")
def list_images(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """Images built here: id, base, steps, size (base + layers, shared ones counted in each), last used."""
    store = _store()
    rows = [
        {
            "image_id": rec["image_id"],
            "base": _base_name(rec["base"]),
            "steps": rec.get("steps", []),
            "size": _size(store, rec),
            "last_used": rec.get("last_used", 0),
        }
        for rec in sorted(store.records(), key=lambda r: -r.get("last_used", 0))
    ]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table()
    table.add_column("image id", no_wrap=True)
    for column in ("base", "steps", "size", "last used"):
        table.add_column(column)
    for row in rows:
        when = datetime.datetime.fromtimestamp(row["last_used"]).strftime("%Y-%m-%d %H:%M")
        steps = "\n".join(row["steps"]) or "-"
        table.add_row(row["image_id"], row["base"], steps, human(row["size"]), when)
    Console().print(table)


@image_cli.command("rm")
def remove(image_id: str = typer.Argument(..., help="an id from `nano-modal image list`")) -> None:
    """Forget an image; `nano-modal image prune` then frees the layers no other image uses."""
    if not _store().remove_record(image_id):
        typer.echo(f"no image {image_id} on this machine (see `nano-modal image list`)", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {image_id}")


@image_cli.command("prune")
def prune() -> None:
    """Delete the bases and layers no listed image uses, and the download caches (local files of
    add_local steps, registry blobs: fetched again when needed)."""
    removed, freed = _store().prune()
    typer.echo(f"removed {len(removed)} unused bases/layers, freed {human(freed)}")
