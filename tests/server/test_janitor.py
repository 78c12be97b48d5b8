"""The server's janitor on a real server and worker: a large argument's blob goes once its
call is past retention, a blob nothing ever named goes after the grace period, and the
deployed app keeps working afterwards (its code blob is named by its definition: a new
container downloads it again). Short retention, grace and period set through the environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.conftest import start_server, start_worker, stop
from tests.helpers import run_script, wait_for

APP = """
import nano_modal

app = nano_modal.App("janitor-test")


@app.function()
def size(data: bytes) -> int:
    return len(data)
"""

CALL = """
import sys
import nano_modal

size = nano_modal.Function.from_name("janitor-test", "size")
print("size", size.remote(b"x" * int(sys.argv[1])))
"""

ORPHAN = """
import nano_modal
from nano_modal._utils.aio import run_blocking
from nano_modal.client import Client

client = run_blocking(Client.get())
print("orphan", run_blocking(client.upload_blob(b"uploaded, never named " * 200_000)))
"""

BIG = 3 * 1024 * 1024  # past INLINE_PAYLOAD_LIMIT: the argument travels as a blob


def _blob_ids(state_dir: Path) -> set[str]:
    return {p.name for p in (state_dir / "blobs").rglob("*") if p.is_file() and not p.name.startswith(".")}


def test_blobs_past_retention_go_and_the_app_keeps_working(tmp_path: Path) -> None:
    state_dir = tmp_path / "server"
    state_dir.mkdir()
    token = secrets.token_urlsafe(16)
    short = {"NANO_MODAL_JANITOR_EVERY": "1", "NANO_MODAL_BLOB_GRACE": "2", "NANO_MODAL_OUTPUT_RETENTION": "4"}
    saved = {k: os.environ.get(k) for k in short}
    os.environ.update(short)  # the server's environment (start_server passes this process's on)
    try:
        server, url = start_server(state_dir, token)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
    env = {**os.environ, "NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": token, "NANO_MODAL_HOME": str(tmp_path)}
    try:
        (tmp_path / "app.py").write_text(APP)
        deployed = subprocess.run(
            [sys.executable, "-m", "nano_modal", "deploy", str(tmp_path / "app.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        code_blobs = _blob_ids(state_dir)
        assert code_blobs, "the deploy uploaded its source"

        called = run_script(tmp_path, CALL, str(BIG), env=env, timeout=120, name="call.py")
        assert f"size {BIG}" in called.stdout, called.stdout + called.stderr
        orphan = run_script(tmp_path, ORPHAN, env=env, timeout=60, name="orphan.py")
        orphan_id = orphan.stdout.split()[-1]
        argument_ids = _blob_ids(state_dir) - code_blobs - {orphan_id}
        assert len(argument_ids) == 1, (argument_ids, orphan.stderr)

        # The orphan after its grace; the argument once its call is forgotten (retention).
        assert wait_for(lambda: not (_blob_ids(state_dir) & ({orphan_id} | argument_ids)), timeout=60), (
            state_dir / "server.log"
        ).read_text()[-3000:]
        assert code_blobs <= _blob_ids(state_dir)
        # A new worker, so a new container: it downloads the app's code again.
        stop(worker)
        worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
        again = run_script(tmp_path, CALL, "5", env=env, timeout=120, name="call.py")
        assert "size 5" in again.stdout, again.stdout + again.stderr + (state_dir / "worker.log").read_text()[-3000:]
    finally:
        stop(worker)
        stop(server)
