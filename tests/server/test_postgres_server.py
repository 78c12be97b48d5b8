"""The whole server on PostgreSQL: the same calls work, and state survives a restart."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests import pg
from tests.conftest import start_server, start_worker, stop
from tests.helpers import run_script

SCRIPT = """
import sys
import nano_modal

app = nano_modal.App("pg-test")


@app.function()
def square(x: int) -> int:
    return x * x


if __name__ == "__main__":
    if sys.argv[1] == "map":
        app.deploy(name="pg-test")
        print(sum(square.map(range(500))))
        call = square.spawn(12)
        assert call.get(timeout=60) == 144
        print(call.object_id)
    else:
        print(nano_modal.FunctionCall.from_id(sys.argv[2]).get(timeout=60))
        print(nano_modal.Function.from_name("pg-test", "square").remote(9))
"""


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL is not installed (scripts/test.sh installs it)")
def test_server_on_postgresql_survives_restart(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(16)
    with pg.postgres_server() as url:
        server, server_url = start_server(tmp_path, token, "--store", url)
        worker = start_worker(server_url, token, tmp_path / "worker.log")
        env = {"NANO_MODAL_SERVER_URL": server_url, "NANO_MODAL_TOKEN": token, "PATH": "/usr/bin:/bin"}
        import os

        env = {**os.environ, **env}
        try:
            first = run_script(tmp_path, SCRIPT, "map", env=env)
            assert first.returncode == 0, first.stderr
            total, call_id = first.stdout.split()[:2]
            assert int(total) == sum(x * x for x in range(500))
            stop(server)
            server, server_url2 = start_server(tmp_path, token, "--store", url)
            env["NANO_MODAL_SERVER_URL"] = server_url2
            stop(worker)
            worker = start_worker(server_url2, token, tmp_path / "worker.log")
            second = run_script(tmp_path, SCRIPT, "fetch", call_id, env=env)
            assert second.returncode == 0, second.stderr
            assert second.stdout.split() == ["144", "81"]
        finally:
            stop(worker)
            stop(server)
