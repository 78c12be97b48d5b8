"""Run attack_app's functions against an isolated cluster, from a subprocess (the SDK's client
is per process, and the session's `cluster` fixture owns this one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.helpers import run_script

DRIVER = """
import hashlib, json, sys
from tests.apps import attack_app as a

calls = json.loads(sys.argv[1])
out = {}
with a.app.run(show_logs=False):
    for name, fn_name, args in calls:
        try:
            value = getattr(a, fn_name).remote(*args)
            if isinstance(value, bytes):  # JSON has no bytes: a digest tells them apart
                value = {"sha256": hashlib.sha256(value).hexdigest(), "len": len(value)}
            out[name] = {"ok": value}
        except Exception as exc:
            out[name] = {"error": type(exc).__name__, "message": str(exc)}
print("RESULT " + json.dumps(out))
"""


def require(runtime: str) -> None:
    binary = {"bwrap": "bwrap", "gvisor": "runsc"}[runtime]
    if shutil.which(binary) is None:
        # scripts/test.sh installs both from Debian; only a machine without apt gets here.
        pytest.skip(f"{binary} is not installed (apt-get install {'bubblewrap' if binary == 'bwrap' else 'runsc'})")


def drive(cluster: Cluster, directory: Path, calls: list[tuple[str, str, list[Any]]]) -> dict[str, Any]:
    """Call each (result name, function name, args) in order; return name -> {"ok": value} or error."""
    proc = run_script(directory, DRIVER, json.dumps(calls), env=cluster.env(), timeout=240)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    exits = f"server exit {cluster.server.poll()}, worker exit {cluster.workers[0].poll()}"
    assert lines, f"driver failed ({proc.returncode}; {exits}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result
