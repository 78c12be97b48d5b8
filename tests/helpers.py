"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at `host` (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run_script(
    directory: Path, source: str, *args: str, env: dict[str, str], timeout: float = 90, name: str = "script.py"
) -> subprocess.CompletedProcess[str]:
    """Write `source` to `directory/name` and run it as __main__ in a fresh interpreter."""
    path = directory / name
    path.write_text(textwrap.dedent(source))
    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)}
    return subprocess.run(
        [sys.executable, str(path), *args], env=env, cwd=directory, capture_output=True, text=True, timeout=timeout
    )


def run_in_own_network(directory: Path, source: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `source` (as run_script does) in a network namespace of its own, so that the addresses
    it adds never touch the host's; skips the test where no namespace can be made (needs root)."""
    import pytest

    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace here (needs root)")
    path = directory / "in_own_network.py"
    path.write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["unshare", "-n", sys.executable, str(path)]
    return subprocess.run(argv, env=env, cwd=directory, capture_output=True, text=True, timeout=timeout)
