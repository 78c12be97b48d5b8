"""The zero-set-up default: a server and a worker on loopback, shared by every run of this
machine's user (per $NANO_MODAL_HOME), started on demand and stopped once idle.

State lives under `$NANO_MODAL_HOME/local/` and persists across runs, as on Modal: a named Dict
written by one `nano-modal run` is there in the next. The first run starts a supervisor
(`python -m nano_modal.embedded DIR`) in a session of its own: it starts the server and the
worker, publishes them in `local/server.json` and stops both once no app has been running or
deployed for IDLE_EXIT seconds. Later runs find them there. `local/lock` (flock) makes one run at a
time start or pick a supervisor, and lets the supervisor retire only when no run is picking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import config
from .exception import ConnectionError

_STARTUP_TIMEOUT = 60.0  # a loaded machine: the server's imports, then its store
# Seconds without a running or deployed app before the local server and worker stop; a
# deployed app keeps them up. Overridden by $NANO_MODAL_LOCAL_IDLE_EXIT (tests: a few seconds).
IDLE_EXIT = 300.0
ENV_IDLE_EXIT = "NANO_MODAL_LOCAL_IDLE_EXIT"
_POLL_SECONDS = 0.5  # how often the supervisor looks at its processes (local, costs nothing)
# How often it asks the server whether anything runs (an AppList and a Hello over gRPC: 1-4 ms of
# the server's loop each, which a warm call waiting on that loop pays too; at 0.5 s they were
# most of the server's slow loop turns, docs/BENCHMARKS.md "Warm call tail"). A quarter of the
# idle time when that is shorter (tests use a few seconds).
BUSY_CHECK_SECONDS = 5.0
INFO = "server.json"  # url, token, the supervisor's pid and how it runs containers
USED = "used"  # touched by every run that picks the supervisor: it is not idle then


def local_dir() -> Path:
    return config.home_dir() / "local"


@contextlib.contextmanager
def _locked(local: Path) -> Iterator[None]:
    with (local / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_info(local: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads((local / INFO).read_text())
    except (OSError, ValueError):
        return None
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    host, _, port = url.rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=2):
        return True
    return False


def _wanted_runtime() -> str:
    return os.environ.get(config.ENV_RUNTIME) or "auto"


def start_embedded() -> tuple[str, str]:
    """The local server's (url, token): the running one, or one started now. Blocking."""
    local = local_dir()
    local.mkdir(parents=True, exist_ok=True)
    with _locked(local):
        info = _read_info(local)
        if info is None or not _alive(int(info["pid"])) or not _answers(info["url"]):
            info = _start_supervisor(local)
        elif os.environ.get(config.ENV_RUNTIME, info["runtime"]) != info["runtime"] or info["python"] != sys.executable:
            print(
                f"nano-modal: the local server already runs (runtime {info['runtime']}, {info['python']}); "
                f"it stops {info['idle_exit']:.0f} s after its last app, or now with `nano-modal server stop`",
                file=sys.stderr,
            )
        (local / USED).touch()
    return str(info["url"]), str(info["token"])


def worker_failure() -> str | None:
    """Why the local worker stopped (the last line it logged), or None while it runs."""
    local = local_dir()
    info = _read_info(local)
    if info is not None and _alive(int(info["worker_pid"])):
        return None
    log_path = local / "worker.log"
    lines = (
        [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        if log_path.exists()
        else []
    )
    return lines[-1] if lines else "the local server and worker stopped"


def _start_supervisor(local: Path) -> dict[str, Any]:
    (local / INFO).unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in (config.ENV_SERVER_URL, config.ENV_TOKEN)}
    with (local / "supervisor.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nano_modal.embedded", str(local)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this run, and its Ctrl-C
        )  # fmt: skip
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        info = _read_info(local)
        if info is not None and info["pid"] == proc.pid:
            return info
        if proc.poll() is not None:
            tail = (local / "supervisor.log").read_text(errors="replace")[-2000:]
            raise ConnectionError(f"the local nano-modal server failed to start:\n{tail}")
        time.sleep(0.02)
    raise ConnectionError(f"the local nano-modal server did not start within {_STARTUP_TIMEOUT:.0f}s")


def running() -> bool:
    """Whether a local server runs (and answers) now."""
    info = _read_info(local_dir())
    return info is not None and _alive(int(info["pid"])) and _answers(info["url"])


def status() -> str:
    """`nano-modal server status`: the local server, if one runs."""
    local = local_dir()
    info = _read_info(local)
    if info is None or not _alive(int(info["pid"])):
        return f"no local server runs (state in {local}); the next run without a server configured starts one"
    return (
        f"local server at {info['url']} (supervisor pid {info['pid']}, runtime {info['runtime']}, state in {local}); "
        f"it stops {info['idle_exit']:.0f} s after its last app"
    )


def stop() -> str:
    """`nano-modal server stop`: stop the local server and worker (their apps with them)."""
    info = _read_info(local_dir())
    if info is None or not _alive(int(info["pid"])):
        return "no local server runs"
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"stopped the local server at {info['url']}" if not _alive(pid) else f"pid {pid} did not stop within 30 s"


# ---------------------------------------------------------------------- the supervisor


def _idle_exit() -> float:
    return float(os.environ.get(ENV_IDLE_EXIT) or IDLE_EXIT)


def _token(local: Path) -> str:
    path = local / "token"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _die_with_supervisor() -> None:
    """In the child before exec: SIGTERM when the supervisor dies, even of SIGKILL."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, *args], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_supervisor,
        )  # fmt: skip


def supervise(local: Path) -> None:
    token = _token(local)
    env = {**os.environ, config.ENV_TOKEN: token}
    port_file = local / "port"
    port_file.unlink(missing_ok=True)
    state_dir = local / "state"
    state_dir.mkdir(exist_ok=True)
    server_args = ["-m", "nano_modal.server", "--host", "127.0.0.1", "--port", "0", "--http-port", "0"]
    server_args += ["--state-dir", str(state_dir)]
    server_args += ["--blob-dir", str(config.home_dir() / "blobs"), "--port-file", str(port_file), "--quiet"]
    processes = [_spawn(server_args, env, local / "server.log")]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not (port_file.exists() and port_file.read_text().strip()):
            if processes[0].poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start: see server.log")
            time.sleep(0.02)
        url = f"127.0.0.1:{int(port_file.read_text())}"
        worker = _spawn(["-m", "nano_modal.worker", "--server", url, "--quiet"], env, local / "worker.log")
        processes.insert(0, worker)  # stopped first: it stops its containers
        info = {"url": url, "token": token, "pid": os.getpid(), "worker_pid": worker.pid}
        info.update(runtime=_wanted_runtime(), python=sys.executable, idle_exit=_idle_exit())
        tmp = local / f"{INFO}.tmp"
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(info))
        tmp.rename(local / INFO)
        asyncio.run(_watch(local, url, token, processes, lambda: stopping))
    finally:
        with _locked(local):
            info_now = _read_info(local)
            if info_now is not None and info_now.get("pid") == os.getpid():
                (local / INFO).unlink(missing_ok=True)
        for proc in processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def _watch(local: Path, url: str, token: str, processes: list[subprocess.Popen[bytes]], stopping: Any) -> None:
    """Until a process dies, a signal comes, or nothing has run for the idle time."""
    from .client import Client
    from .proto import api_pb2
    from .version import __version__

    client = Client(url, token)
    busy_at = time.time()
    checked_at = -float("inf")  # (monotonic)
    while not stopping() and all(p.poll() is None for p in processes):
        await asyncio.sleep(_POLL_SECONDS)
        if time.monotonic() - checked_at < min(BUSY_CHECK_SECONDS, _idle_exit() / 4):
            continue
        checked_at = time.monotonic()
        with contextlib.suppress(Exception):
            apps = await client.stub.AppList(api_pb2.AppListRequest(live_only=True), timeout=10)
            hello = await client.stub.Hello(api_pb2.HelloRequest(client_version=__version__), timeout=10)
            # A worker still starting (its probe) counts as busy: the run that started it waits for it.
            if not hello.worker_runtimes or any(a.state in ("running", "deployed") for a in apps.apps):
                busy_at = time.time()
        if time.time() - busy_at < _idle_exit():
            continue
        with _locked(local):  # no run is picking this supervisor meanwhile
            used = (local / USED).stat().st_mtime if (local / USED).exists() else 0.0
            if time.time() - max(busy_at, used) >= _idle_exit():
                (local / INFO).unlink(missing_ok=True)
                return


if __name__ == "__main__":
    supervise(Path(sys.argv[1]))
