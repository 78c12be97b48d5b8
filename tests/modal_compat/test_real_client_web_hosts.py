"""Web endpoints of the real client from PyPI on a server with a web domain (`--web-domain`):
`modal deploy` prints each endpoint's own host, `<app>-<function>.<domain>` (a class's method:
`<app>-<class>-<method>`, `label=`: the label), and real HTTP and WebSocket clients reach it
there (issue 15)."""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import start_server, start_worker, stop
from tests.modal_compat.conftest import ModalCluster, make_modal_venv
from tests.modal_compat.test_real_client import write_app

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; each request may start a container")

DOMAIN = "nano.localhost"
TIMEOUT = 120  # seconds: a first request waits for a container to start
_HOST_URL = re.compile(rf"http://([\w-]+)\.{re.escape(DOMAIN)}:\d+/")  # group 1: the endpoint's label

APP = """
import modal

app = modal.App("nano-compat-hosts")


@app.function()
@modal.fastapi_endpoint(label="hello-host")
def hello():
    return {"where": "its own host"}


@app.cls()
class Greeter:
    @modal.fastapi_endpoint()
    def greet(self, name: str = "world"):
        return {"hello": name}


@app.function()
@modal.asgi_app()
def chat():
    from fastapi import FastAPI, WebSocket

    web = FastAPI()

    @web.websocket("/ws")
    async def echo(ws: WebSocket):
        await ws.accept()
        await ws.send_text("echo: " + await ws.receive_text())
        await ws.close()

    return web
"""


@pytest.fixture(scope="module")
def hosts_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModalCluster]:
    """A server with a web domain (the session's modal_cluster has none), and a worker."""
    venv = make_modal_venv()
    if isinstance(venv, str):
        pytest.skip(venv)
    python = str(venv / "bin" / "python")
    state_dir = tmp_path_factory.mktemp("modal-hosts-server")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token, "--web-domain", DOMAIN, python=python)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process", python=python)
    try:
        yield ModalCluster(venv, url, token, state_dir)
    finally:
        stop(worker)
        stop(server)


def get(url: str) -> tuple[int, str]:
    """GET `url` as a browser would: at loopback (Python does not resolve *.localhost), with
    the URL's host in the Host header."""
    parts = urlsplit(url)
    local = url.replace(parts.netloc, f"127.0.0.1:{parts.port}", 1)
    response = httpx.get(local, headers={"Host": parts.netloc}, timeout=TIMEOUT)
    return response.status_code, response.text


def test_endpoints_answer_at_their_own_hosts(hosts_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, APP)
    deploy = hosts_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    printed = {m.group(1): m.group(0) for m in _HOST_URL.finditer(deploy.stdout)}
    assert set(printed) == {"hello-host", "nano-compat-hosts-greeter-greet", "nano-compat-hosts-chat"}, deploy.stdout
    assert get(printed["hello-host"]) == (200, '{"where":"its own host"}')
    assert get(printed["nano-compat-hosts-greeter-greet"] + "?name=bob") == (200, '{"hello":"bob"}')
    ws_url = printed["nano-compat-hosts-chat"].replace("http://", "ws://", 1) + "ws"
    port = urlsplit(ws_url).port or 80
    with connect(ws_url, sock=socket.create_connection(("127.0.0.1", port)), open_timeout=TIMEOUT) as ws:
        ws.send("hi")
        assert ws.recv(timeout=TIMEOUT) == "echo: hi"
