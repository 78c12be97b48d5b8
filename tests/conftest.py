"""Shared fixtures: a real server and worker on loopback, started once per test session.

Tests talk to them through the public SDK, exactly as a user's program would; nothing on
the wire is mocked.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Built images are kept across sessions (and shared by every server and worker of one): a
# Debian base takes a minute to build, a cached one nothing.
os.environ.setdefault("NANO_MODAL_IMAGES_DIR", str(Path(tempfile.gettempdir()) / "nano-modal-test-images"))
# The local server of runs without one (nano_modal/embedded.py) stops this long after its last
# app, not minutes later: every test with a home of its own starts one.
os.environ.setdefault("NANO_MODAL_LOCAL_IDLE_EXIT", "10")


@dataclass
class Cluster:
    server_url: str
    token: str
    state_dir: Path
    server: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should use this cluster."""
        return {**os.environ, "NANO_MODAL_SERVER_URL": self.server_url, "NANO_MODAL_TOKEN": self.token}


def start_server(
    state_dir: Path, token: str, *extra: str, python: str = sys.executable
) -> tuple[subprocess.Popen[bytes], str]:
    port_file = state_dir / "port"
    port_file.unlink(missing_ok=True)
    env = {**os.environ, "NANO_MODAL_TOKEN": token}
    log = (state_dir / "server.log").open("ab")
    proc = subprocess.Popen(
        [python, "-m", "nano_modal.server", "--port", "0", "--state-dir", str(state_dir),
         "--port-file", str(port_file), *extra],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start: " + (state_dir / "server.log").read_text())
        time.sleep(0.02)
    return proc, f"127.0.0.1:{port_file.read_text().strip()}"


def start_worker(
    server_url: str,
    token: str,
    log_path: Path,
    *extra: str,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """A worker process; `env`: settings for it on top of this process's environment."""
    env = {**os.environ, **(env or {}), "NANO_MODAL_TOKEN": token}
    return subprocess.Popen(
        [python, "-m", "nano_modal.worker", "--server", server_url, *extra],
        env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One server and one worker for the whole session; the SDK in this process points at them."""
    state_dir = tmp_path_factory.mktemp("server")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token)
    # The process runtime: these tests' functions read and write the test's own files.
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
    os.environ["NANO_MODAL_SERVER_URL"] = url
    os.environ["NANO_MODAL_TOKEN"] = token
    os.environ["NANO_MODAL_HOME"] = str(tmp_path_factory.mktemp("home"))
    try:
        yield Cluster(url, token, state_dir, server, [worker])
    finally:
        stop(worker)
        stop(server)


@pytest.fixture(scope="session")
def core_app(cluster: Cluster) -> Iterator[object]:
    """tests/apps/core_app.py's app, running for the whole session (containers stay warm between tests)."""
    from tests.apps import core_app as module

    with module.app.run():
        yield module


@pytest.fixture(scope="session")
def objects_app(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """tests/apps/objects_app.py's app (Dict/Queue/Secret/Volume functions), running for the session.

    Its volume is mounted at a fresh path (the process runtime links it there), and the named
    secret it injects is created first: hydrating a missing one would fail the app's start."""
    os.environ["NM_TEST_VOLUME_MOUNT"] = str(tmp_path_factory.mktemp("mounts") / "data")
    import nano_modal

    nano_modal.Secret.objects.create(
        "objects-test-secret", {"NAMED_TOKEN": "named-value", "SHARED": "from-named"}, allow_existing=True
    )
    from tests.apps import objects_app as module

    with module.app.run():
        yield module


@pytest.fixture(scope="session")
def isolated_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Cluster]]:
    """`isolated_cluster("bwrap", "--block-network")`: a server and one worker with that runtime,
    started on first use and shared by the session. Unlike `cluster`, it leaves this process's
    environment alone: drive it from a subprocess with `Cluster.env()`."""
    started: dict[tuple[str, ...], Cluster] = {}

    def get(runtime: str, *worker_args: str) -> Cluster:
        key = (runtime, *worker_args)
        if key not in started:
            state_dir = tmp_path_factory.mktemp(f"server-{runtime}")
            token = secrets.token_urlsafe(16)
            server, url = start_server(state_dir, token)
            worker = start_worker(url, token, state_dir / "worker.log", "--runtime", runtime, *worker_args)
            started[key] = Cluster(url, token, state_dir, server, [worker])
        return started[key]

    try:
        yield get
    finally:
        for c in started.values():
            for w in c.workers:
                stop(w)
            stop(c.server)


@contextmanager
def using(cluster: Cluster) -> Iterator[Cluster]:
    """Point the SDK in this process at `cluster` for the block, then back where it was."""
    from nano_modal.client import Client

    names = ("NANO_MODAL_SERVER_URL", "NANO_MODAL_TOKEN")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(NANO_MODAL_SERVER_URL=cluster.server_url, NANO_MODAL_TOKEN=cluster.token)
    Client.reset()
    try:
        yield cluster
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        Client.reset()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, object]]:
    """A server keeping Queue items in a real redis-server (`--queue redis://...`) and a worker,
    started on first use. It leaves this process's environment alone: enter `using(cluster)`.
    Yields the cluster and its tests.redisd.RedisServer."""
    from tests import redisd

    if not redisd.available():
        pytest.skip(redisd.SKIP_REASON)
    os.environ.setdefault("NANO_MODAL_HOME", str(tmp_path_factory.mktemp("home")))
    with redisd.redis_server() as redis:
        state_dir = tmp_path_factory.mktemp("server-redis")
        token = secrets.token_urlsafe(16)
        server, url = start_server(state_dir, token, "--queue", redis.url)
        worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
        try:
            yield Cluster(url, token, state_dir, server, [worker]), redis
        finally:
            stop(worker)
            stop(server)
            stop(server)


@pytest.fixture(scope="session", autouse=True)
def _stop_local_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runs without a server start a local one per home (nano_modal/embedded.py); one whose
    home holds a deployed app would outlive the session. Stopped at its end, by the pid it published."""
    yield
    import json
    import signal

    for info in tmp_path_factory.getbasetemp().glob("**/local/server.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            os.kill(int(json.loads(info.read_text())["pid"]), signal.SIGTERM)
