"""A follower serves everything the active server does: clients and workers that know only the
follower's address use every kind of call through it (unary, server streams, client streams,
the sandbox relay's bidirectional stream, the fast lane)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_server, start_worker, stop
from tests.helpers import free_port, run_script, wait_for

FOLLOWER_HTTP_PORT = free_port()
WEB_DOMAIN = "nano.localhost"  # the active server's: endpoints have hosts of their own

SCRIPT = """
import sys

import nano_modal

app = nano_modal.App("through-a-follower")


@app.function()
def square(x: int) -> int:
    # To stderr: a log line arriving while the script prints a result could split that line.
    print("squaring", x, file=sys.stderr)
    return x * x


@app.function()
def count(n: int):
    yield from range(n)


@app.function()
def size(data: bytes) -> int:
    return len(data)


@app.function()
@nano_modal.asgi_app()
def web():
    from fastapi import FastAPI, Response, WebSocket

    api = FastAPI()

    @api.post("/echo")
    async def echo(payload: dict) -> Response:
        response = Response(payload["text"].upper())
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    @api.websocket("/shout")
    async def shout(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(text.upper() + "!")

    return api


@app.function()
def boom() -> None:
    raise ValueError("raised remotely")


if __name__ == "__main__":
    with app.run():
        print("remote", square.remote(7))
        print("map", sum(square.map(range(100))))
        print("gen", list(count.remote_gen(4)))
        print("blob", size.remote(b"x" * (3 << 20)))  # over the inline limit: a blob upload stream
        print("spawn", square.spawn(9).get(timeout=60))
        try:
            boom.remote()
        except ValueError as exc:
            print("error", exc)
        d = nano_modal.Dict.from_name("follower-dict", create_if_missing=True)
        d["k"] = 1
        print("dict", d["k"])
        sb = nano_modal.Sandbox.create(app=app)
        p = sb.exec("echo", "from a sandbox")
        print("sandbox", p.stdout.read().strip(), p.wait())
        sb.terminate()

        import socket
        from urllib.parse import urlsplit

        import httpx
        from websockets.sync.client import connect

        url = web.get_web_url()  # the host form (--web-domain), at the follower's port
        print("web url", url)
        port = urlsplit(url).port
        # Both forms through the follower: it passes the Host on, which the active server routes by.
        path_form = f"http://127.0.0.1:{port}/{app.app_id}/web/"
        for form, base, host in (("path", path_form, {}), ("host", url, {"Host": urlsplit(url).netloc})):
            local = base.replace(urlsplit(base).netloc, f"127.0.0.1:{port}", 1)
            answer = httpx.post(local + "echo", json={"text": "proxied"}, headers=host, timeout=60)
            print("http", form, answer.status_code, answer.text, sorted(answer.cookies.keys()))
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            with connect(base.replace("http", "ws", 1) + "shout", sock=sock, open_timeout=60) as ws:
                ws.send("hi")
                print("ws", form, ws.recv(timeout=30))
"""


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """An active server and a follower on its store, each with a state directory of its own."""
    token = secrets.token_urlsafe(16)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    active, url_a = start_server(tmp_path / "a", token, "--web-domain", WEB_DOMAIN)
    store = f"sqlite:///{tmp_path / 'a' / 'state.db'}"
    http_port = str(FOLLOWER_HTTP_PORT)
    follower, url_b = start_server(
        tmp_path / "b", token, "--store", store, "--http-port", http_port, "--web-domain", WEB_DOMAIN
    )
    try:
        assert "follower on" in (tmp_path / "b" / "server.log").read_text()
        yield token, url_a, url_b
    finally:
        stop(follower)
        stop(active)


def test_clients_and_workers_that_know_only_a_follower_use_every_kind_of_call(
    tmp_path: Path, servers: tuple[str, str, str]
) -> None:
    token, _, url_b = servers
    worker = start_worker(url_b, token, tmp_path / "worker.log", "--runtime", "process")
    try:
        assert wait_for(lambda: "registered as" in (tmp_path / "worker.log").read_text(), 60)
        env = {**os.environ, "NANO_MODAL_SERVER_URL": url_b, "NANO_MODAL_TOKEN": token}
        env["NANO_MODAL_HOME"] = str(tmp_path / "home")
        done = run_script(tmp_path, SCRIPT, env=env, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        for expected in (
            "remote 49",
            f"map {sum(i * i for i in range(100))}",
            "gen [0, 1, 2, 3]",
            f"blob {3 << 20}",
            "spawn 81",
            "error raised remotely",
            "dict 1",
            "sandbox from a sandbox 0",
            "http path 200 PROXIED ['a', 'b']",
            "ws path HI!",
            "http host 200 PROXIED ['a', 'b']",
            "ws host HI!",
        ):
            assert expected in lines, (expected, done.stdout, done.stderr)
        assert "squaring 7" in done.stdout + done.stderr  # logs stream back through the follower
        # Web endpoints are named, and served, at the follower's own HTTP port.
        web_url = next(line for line in lines if line.startswith("web url ")).removeprefix("web url ")
        host_form = rf"http://ap-[0-9a-z]+-web\.{re.escape(WEB_DOMAIN)}:{FOLLOWER_HTTP_PORT}/"
        assert re.fullmatch(host_form, web_url), web_url
    finally:
        stop(worker)


def test_the_follower_checks_nothing_itself_and_passes_on_the_active_servers_refusal(
    tmp_path: Path, servers: tuple[str, str, str]
) -> None:
    _, _, url_b = servers
    env = {**os.environ, "NANO_MODAL_SERVER_URL": url_b, "NANO_MODAL_TOKEN": "not-the-token"}
    env["NANO_MODAL_HOME"] = str(tmp_path / "home")
    put = "import nano_modal; nano_modal.Dict.from_name('x', create_if_missing=True)['k'] = 1"
    refused = run_script(tmp_path, put, env=env)
    assert refused.returncode != 0
    assert "invalid or missing token" in refused.stderr, refused.stderr
