"""Web endpoints with the real client from PyPI: `modal deploy` and `modal serve`, then real
HTTP requests to the URLs they print, through nano-modal's gateway (issue 15)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; each request may start a container")

WEB_APP = """
import modal

app = modal.App("nano-compat-web")


@app.function()
@modal.fastapi_endpoint(method="POST")
def echo(item: dict):
    return {"got": item, "times": item["x"] * FACTOR}


@app.function()
@modal.asgi_app()
def api():
    from fastapi import FastAPI, Request

    web = FastAPI()

    @web.get("/hello/{name}")
    def hello(name: str, request: Request):
        return {"hello": name, "q": request.query_params.get("q")}

    return web


@app.function()
@modal.wsgi_app()
def legacy():
    def application(environ, start_response):
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"wsgi at " + environ["PATH_INFO"].encode()]

    return application


@app.function()
@modal.fastapi_endpoint(requires_proxy_auth=True)
def guarded():
    return {"ok": True}


FACTOR = {factor}
"""

_URL = re.compile(r"(http://\S+/(\w+)/)")


def urls(output: str) -> dict[str, str]:
    """The web URLs `modal deploy`/`modal serve` printed, by function name (not the app's page
    on the dashboard, under /_/, which `modal deploy` prints too)."""
    return {name: url for url, name in _URL.findall(output) if "/_/" not in url}


def request(url: str, body: dict[str, object] | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_deployed_web_endpoints_answer_http(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, WEB_APP.replace("{factor}", "2"))
    deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    printed = urls(deploy.stdout)
    assert set(printed) == {"echo", "api", "legacy", "guarded"}, deploy.stdout
    assert request(printed["echo"], {"x": 21}) == (200, '{"got":{"x":21},"times":42}')
    assert request(printed["echo"], {"x": 1}) == (200, '{"got":{"x":1},"times":2}')  # a warm container
    assert request(printed["api"] + "hello/bob?q=1") == (200, '{"hello":"bob","q":"1"}')
    status, _ = request(printed["api"] + "nowhere")
    assert status == 404  # the app's own answer, relayed
    assert request(printed["legacy"] + "some/path") == (200, "wsgi at /some/path")
    assert request(printed["guarded"])[0] == 401  # requires_proxy_auth: nano-modal's proxy tokens
    key, secret = proxy_token(modal_cluster)
    assert request(printed["guarded"], headers={"Modal-Key": key, "Modal-Secret": secret}) == (200, '{"ok":true}')
    lookup = subprocess.run(
        [
            str(modal_cluster.venv / "bin" / "python"),
            "-c",
            "import modal; print(modal.Function.from_name('nano-compat-web', 'echo').get_web_url())",
        ],
        env=modal_cluster.modal_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lookup.stdout.strip() == printed["echo"], lookup.stdout + lookup.stderr


def proxy_token(cluster: ModalCluster) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
    env.update({"NANO_MODAL_SERVER_URL": cluster.server_url, "NANO_MODAL_TOKEN": cluster.token})
    created = subprocess.run(
        [sys.executable, "-m", "nano_modal", "token", "create-proxy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.findall(r"Modal-(?:Key|Secret): (\S+)", created.stdout)
    return found[0], found[1]


def test_modal_serve_serves_and_reloads(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    app = write_app(tmp_path, WEB_APP.replace("{factor}", "2").replace("nano-compat-web", "nano-compat-serve"))
    out = tmp_path / "serve.out"
    with out.open("w") as sink:
        serve = subprocess.Popen(
            [str(modal_cluster.venv / "bin" / "modal"), "serve", "app.py"],
            cwd=tmp_path,
            env=modal_cluster.modal_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "Serving" in out.read_text(errors="replace"), out)
        echo = urls(out.read_text(errors="replace"))["echo"]
        assert "/ap-" in echo  # an ephemeral app answers by its id
        assert request(echo, {"x": 5}) == (200, '{"got":{"x":5},"times":10}')
        app.write_text(app.read_text().replace("FACTOR = 2", "FACTOR = 3"))
        wait_for(lambda: out.read_text(errors="replace").count("Created objects") >= 2, out)
        assert request(echo, {"x": 5}) == (200, '{"got":{"x":5},"times":15}')  # the same URL, the new code
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


def wait_for(condition: Callable[[], bool], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.5)
