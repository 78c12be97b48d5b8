"""The zero-set-up default: a server and a worker on loopback for the life of this process.

State goes under `$NANO_MODAL_HOME/embedded/<pid>/` (removed at exit); content-addressed
blobs are shared by all runs under `$NANO_MODAL_HOME/blobs/`.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import config
from .exception import ConnectionError

_STARTUP_TIMEOUT = 30.0
_processes: list[subprocess.Popen[bytes]] = []
_worker: list[tuple[subprocess.Popen[bytes], Path]] = []  # the worker and its log, once started


def start_embedded() -> tuple[str, str]:
    """Start server and worker; return (server_url, token). Blocking."""
    home = config.home_dir()
    state_dir = home / "embedded" / str(os.getpid())
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    port_file = state_dir / "port"
    log_path = state_dir / "server.log"
    env = {**os.environ, config.ENV_TOKEN: token}
    env.pop(config.ENV_SERVER_URL, None)
    server = _spawn(
        [
            "-m",
            "nano_modal.server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-dir",
            str(state_dir),
            "--blob-dir",
            str(home / "blobs"),
            "--port-file",
            str(port_file),
            "--quiet",
        ],
        env,
        log_path,
    )
    atexit.register(_stop_all, state_dir)
    port = _wait_for_port(port_file, server, log_path)
    server_url = f"127.0.0.1:{port}"
    worker_log = state_dir / "worker.log"
    _worker[:] = [(_spawn(["-m", "nano_modal.worker", "--server", server_url, "--quiet"], env, worker_log), worker_log)]
    return server_url, token


def worker_failure() -> str | None:
    """Why the embedded worker stopped (the last line it logged), or None while it runs."""
    if not _worker or _worker[0][0].poll() is None:
        return None
    proc, log_path = _worker[0]
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    _processes.append(proc)
    return proc


def _wait_for_port(port_file: Path, server: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text())
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ConnectionError(f"the embedded nano-modal server failed to start:\n{tail}")
        time.sleep(0.02)
    raise ConnectionError(f"the embedded nano-modal server did not start within {_STARTUP_TIMEOUT:.0f}s")


def _stop_all(state_dir: Path) -> None:
    # Worker first (it stops its containers), then the server.
    for proc in reversed(_processes):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    _processes.clear()
    shutil.rmtree(state_dir, ignore_errors=True)
