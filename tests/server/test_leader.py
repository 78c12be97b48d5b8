"""Several servers on one store: one is active, the others forward every call to it (followers)
and one of them takes over when it dies."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from nano_modal.proto import api_pb2, api_pb2_grpc
from tests import pg
from tests.conftest import stop
from tests.helpers import run_script, wait_for


def _server(state_dir: Path, token: str, name: str, store: str | None) -> tuple[subprocess.Popen[bytes], Path]:
    port_file = state_dir / f"port-{name}"
    log = (state_dir / f"server-{name}.log").open("ab")
    argv = [sys.executable, "-m", "nano_modal.server", "--port", "0", "--state-dir", str(state_dir)]
    argv += ["--port-file", str(port_file)]
    if store:
        argv += ["--store", store]
    proc = subprocess.Popen(
        argv,
        env={**os.environ, "NANO_MODAL_TOKEN": token},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, port_file


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None  # the state directory's SQLite file
        return
    if not pg.available():
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs it (apt-get install postgresql)")
    with pg.postgres_server() as url:
        yield url


def test_a_follower_serves_and_takes_over_when_the_active_server_dies(tmp_path: Path, store: str | None) -> None:
    token = secrets.token_urlsafe(16)
    active, active_port = _server(tmp_path, token, "a", store)
    follower: subprocess.Popen[bytes] | None = None
    try:
        assert wait_for(lambda: active_port.exists() and active_port.read_text().strip() != "", 30)
        follower, follower_port = _server(tmp_path, token, "b", store)
        log_b = tmp_path / "server-b.log"
        assert wait_for(lambda: "follower" in log_b.read_text(), 30), log_b.read_text()
        url_a = f"127.0.0.1:{active_port.read_text().strip()}"
        url_b = f"127.0.0.1:{follower_port.read_text().strip()}"
        env = {**os.environ, "NANO_MODAL_TOKEN": token, "NANO_MODAL_HOME": str(tmp_path / "home")}

        # Written through the follower, read from the active server: the follower forwards.
        put = "import nano_modal; nano_modal.Dict.from_name('ha', create_if_missing=True)['k'] = 'kept'"
        done = run_script(tmp_path, put, env={**env, "NANO_MODAL_SERVER_URL": url_b})
        assert done.returncode == 0, done.stderr
        get = "import nano_modal; print(nano_modal.Dict.from_name('ha')['k'])"
        got = run_script(tmp_path, get, env={**env, "NANO_MODAL_SERVER_URL": url_a})
        assert got.stdout.strip() == "kept", got.stderr
        # A wrong token is refused through the follower too (the active server checks it).
        refused = run_script(tmp_path, get, env={**env, "NANO_MODAL_SERVER_URL": url_b, "NANO_MODAL_TOKEN": "wrong"})
        assert refused.returncode != 0 and "token" in refused.stderr.lower(), refused.stderr

        active.send_signal(signal.SIGKILL)
        active.wait(timeout=10)
        # A call that reaches the follower before it has taken over is held, then answered by
        # it as the active server: one call, no retry by the caller.
        with grpc.insecure_channel(url_b) as channel:
            stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
            listed = stub.AppList(api_pb2.AppListRequest(), metadata=(("x-nano-modal-token", token),), timeout=60)
        assert listed is not None
        # Asked while the follower takes over: it holds the call until it can answer it.
        got = run_script(tmp_path, get, env={**env, "NANO_MODAL_SERVER_URL": url_b})  # same address as before
        assert got.stdout.strip() == "kept", got.stderr
        assert "takes over" in log_b.read_text()
    finally:
        stop(active)
        if follower is not None:
            stop(follower)


def test_asking_for_a_held_lease_again_reuses_one_postgres_connection() -> None:
    """A follower asks every second: on one connection, not a new one each time."""
    if not pg.available():
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs it (apt-get install postgresql)")
    import sqlalchemy as sa

    from nano_modal.server import leader

    with pg.postgres_server() as url:
        holder = leader._take(url)
        assert holder is not None
        engine = sa.create_engine(leader._psycopg_url(url), poolclass=sa.pool.NullPool)
        sessions = sa.text("SELECT sum(sessions) FROM pg_stat_database")  # every session ever opened

        def opened() -> int:
            with engine.connect() as conn:
                return int(conn.execute(sessions).scalar() or 0)

        assert leader._take(url) is None
        before = opened()
        for _ in range(5):
            assert leader._take(url) is None
        assert opened() - before <= 1  # opened() itself, nothing else
        holder._holder.close()  # the active server dies: the waiting connection gets the lease
        assert wait_for(lambda: leader._take(url) is not None, 10)
