"""`nano-modal serve app.py`: run the app, and run it again whenever its files change.

One server for the whole session (the embedded one, unless a server is configured), so
web endpoint URLs of a deployed-style name stay put; each reload is a fresh process that
imports the new code and keeps the app live until the next change.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .. import config
from .._utils.aio import run_blocking
from ..client import Client
from ._where import say_where

POLL_SECONDS = 0.5


def _snapshot(root: Path) -> dict[Path, float]:
    files = [root] if root.is_file() else [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    return {p: p.stat().st_mtime for p in files if p.exists()}


def serve(ref: str, timeout: float | None) -> None:
    path = Path(ref.partition("::")[0]).resolve()
    if not path.exists():
        raise SystemExit(f"no such file: {path}")
    # SIGTERM must unwind through the `finally` below, or the current generation outlives us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    client = run_blocking(Client.get())  # starts the embedded server once, for every reload
    say_where(client)
    env = {**os.environ, config.ENV_SERVER_URL: client.server_url, config.ENV_TOKEN: client.token}
    watched = path.parent
    started = time.monotonic()
    while timeout is None or time.monotonic() - started < timeout:
        before = _snapshot(watched)
        child = subprocess.Popen([sys.executable, "-m", "nano_modal.cli.serve_child", str(path)], env=env)
        try:
            while _snapshot(watched) == before and child.poll() is None:
                if timeout is not None and time.monotonic() - started >= timeout:
                    break
                time.sleep(POLL_SECONDS)
        finally:
            child.terminate()
            child.wait(30)
        if timeout is not None and time.monotonic() - started >= timeout:
            return
        if child.returncode not in (0, -15) and _snapshot(watched) == before:
            print("the app exited; waiting for a change to its files", file=sys.stderr)
            while _snapshot(watched) == before:
                time.sleep(POLL_SECONDS)
        print(f"↻ {path.name} changed: reloading", file=sys.stderr)
