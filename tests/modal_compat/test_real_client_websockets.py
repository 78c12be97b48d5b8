"""WebSockets to an endpoint defined with the real client from PyPI: `modal deploy` of
examples/modal_client_websockets.py, then a real WebSocket client through nano-modal's gateway
(issue 15)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app
from tests.modal_compat.test_real_client_web import request, urls

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; a session may start a container")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_websockets.py"  # the program users are shown
OPEN_TIMEOUT = 120  # seconds: the first session waits for a container to start


def session(url: str) -> ClientConnection:
    return connect(url.replace("http://", "ws://", 1), open_timeout=OPEN_TIMEOUT, close_timeout=30)


def closed_by_server(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=OPEN_TIMEOUT)
    return closed.value


def test_websocket_sessions_relayed_both_ways(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    chat = urls(deploy.stdout)["chat"]
    assert request(chat) == (200, '{"websockets":"/echo, /countdown/{n}"}')  # HTTP still works

    with session(chat + "echo") as ws:
        ws.send("hi")
        assert ws.recv(timeout=OPEN_TIMEOUT) == "echo: hi"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=OPEN_TIMEOUT) == b"\x03\x02\x01"
        ws.send("bye")
        closed = closed_by_server(ws)
    assert closed.rcvd is not None, closed
    assert (closed.rcvd.code, closed.rcvd.reason) == (4001, "bye to you")  # the app's own close

    with session(chat + "countdown/3") as ws:
        got = [ws.recv(timeout=OPEN_TIMEOUT) for _ in range(3)]
        closed = closed_by_server(ws)
    assert got == ["3", "2", "1"]
    assert closed.rcvd is not None and closed.rcvd.code == 1000, closed  # the server's own close

    with session(chat + "echo") as ws:
        ws.send("still there?")
        assert ws.recv(timeout=OPEN_TIMEOUT) == "echo: still there?"
        ws.close(code=4002)  # the client leaves: the app hears it
    assert left_code(modal_cluster) == "4002"


def left_code(cluster: ModalCluster) -> str:
    """What the app wrote when it heard the client leave (waiting for it: the app hears it after
    the client's close returned)."""
    script = (
        "import time, modal\n"
        "log = modal.Dict.from_name('nano-compat-websockets-log', create_if_missing=True)\n"
        "for _ in range(120):\n"
        "    if 'left' in log:\n"
        "        break\n"
        "    time.sleep(0.5)\n"
        "print(log.get('left'))\n"
    )
    found = subprocess.run(
        [str(cluster.venv / "bin" / "python"), "-c", script],
        env=cluster.modal_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    return found.stdout.strip() or found.stderr
