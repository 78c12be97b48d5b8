"""Web endpoints with hosts of their own (`--web-domain`), run the way Modal's docs say:
`nano-modal serve examples/web_hosts.py`, then real HTTP and WebSocket clients.

Python's resolver does not map *.localhost to loopback as browsers and curl do, so the
clients connect to 127.0.0.1 and name the endpoint's host in the Host header (httpx), or
in the URL with the socket given (websockets), which is what a browser sends."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect

from tests.test_examples import EXAMPLES, run_embedded

DOMAIN = "nano.localhost"
EXAMPLE = EXAMPLES / "web_hosts.py"


@dataclass
class Served:
    urls: dict[str, str]  # endpoint name -> URL, as `nano-modal serve` printed them
    home: Path
    port: int  # the gateway's


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NANO_MODAL_SERVER_URL", "NANO_MODAL_TOKEN")}
    return env | {"NANO_MODAL_HOME": str(home), "NANO_MODAL_WEB_DOMAIN": DOMAIN}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("home")
    cli = [sys.executable, "-m", "nano_modal.cli", "serve", str(EXAMPLE)]
    proc = subprocess.Popen(cli, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in iter(proc.stdout.readline, "")], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while not any(line.startswith("serving web-hosts") for line in seen):
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start:\n" + "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        urls = dict(m.groups() for line in seen if (m := re.match(r"  (\S+): (http\S+)$", line)))
        port = urlsplit(next(iter(urls.values()))).port if urls else 0
        yield Served(urls, home, port or 0)
    finally:
        proc.terminate()
        proc.wait(60)
        subprocess.run([sys.executable, "-m", "nano_modal.cli", "server", "stop"], env=_env(home), timeout=60)


def _get(url: str, **kwargs: object) -> httpx.Response:
    """GET `url` as a browser would, at loopback, with the URL's host in the Host header."""
    parts = urlsplit(url)
    local = url.replace(parts.netloc, f"127.0.0.1:{parts.port}", 1)
    return httpx.get(local, headers={"Host": parts.netloc}, timeout=60, **kwargs)  # type: ignore[arg-type]


def _websocket_echo(ws_url: str, text: str) -> str:
    parts = urlsplit(ws_url)
    sock = socket.create_connection(("127.0.0.1", parts.port or 80), timeout=60)
    with connect(ws_url, sock=sock, open_timeout=60) as ws:
        ws.send(text)
        return str(ws.recv(timeout=60))


def test_serve_prints_every_endpoint_in_host_form_class_methods_too(served: Served) -> None:
    port = served.port
    assert served.urls == {
        "site": f"http://web-hosts-site.{DOMAIN}:{port}/",
        "square": f"http://web-hosts-square.{DOMAIN}:{port}/",
        "Greeter.greet": f"http://web-hosts-greeter-greet.{DOMAIN}:{port}/",
    }


@pytest.mark.parametrize("form", ["host", "path"])
def test_an_app_building_urls_from_the_request_works_in_both_forms(served: Served, form: str) -> None:
    base = served.urls["site"] if form == "host" else f"http://127.0.0.1:{served.port}/web-hosts/site/"
    redirect = _get(base)
    assert redirect.status_code == 307 and redirect.headers["location"] == base + "page"
    page = _get(base + "page")
    assert page.status_code == 200
    assert f'action="{base}submit"' in page.text
    ws_url = base.replace("http", "ws", 1) + "echo"
    assert f'new WebSocket("{ws_url}")' in page.text
    parts = urlsplit(base)
    posted = httpx.post(
        base.replace(parts.netloc, f"127.0.0.1:{parts.port}", 1) + "submit",
        headers={"Host": parts.netloc},
        content=b"text=hi+there",
        timeout=60,
    )
    assert posted.json() == {"shout": "HI THERE"}
    assert _websocket_echo(ws_url, "hello") == "echo: hello"


def test_fastapi_endpoint_docs_true_serves_the_docs_pages(served: Served) -> None:
    url = served.urls["square"]
    assert _get(url, params={"x": 7}).json() == {"square": 49}
    docs = _get(url + "docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "/" in _get(url + "openapi.json").json()["paths"]


def test_class_endpoint_and_unknown_host(served: Served) -> None:
    assert _get(served.urls["Greeter.greet"], params={"name": "hosts"}).json() == {"greeting": "hello hosts"}
    unknown = _get(f"http://web-hosts-nope.{DOMAIN}:{served.port}/")
    assert unknown.status_code == 404 and "web-hosts-nope" in unknown.text


def test_get_web_url_and_deploy_give_the_host_form(served: Served) -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]); import web_hosts as w\n"
        "from tests.test_web_hosts import _get\n"
        "with w.app.run():\n"
        "    url = w.square.get_web_url(); print(url); print(w.Greeter().greet.get_web_url())\n"
        "    print(_get(url, params={'x': 3}).json())\n"  # an ephemeral run answers at its id's label
    )
    cli = [sys.executable, "-c", script, str(EXAMPLES), str(EXAMPLES.parent)]
    out = run_embedded(cli, served.home).stdout.splitlines()
    assert re.fullmatch(rf"http://ap-[0-9a-z]+-square\.{re.escape(DOMAIN)}:{served.port}/", out[0].lower()), out
    assert re.fullmatch(rf"http://ap-[0-9a-z]+-greeter-greet\.{re.escape(DOMAIN)}:{served.port}/", out[1]), out
    assert out[2] == "{'square': 9}"

    deploy = [sys.executable, "-m", "nano_modal.cli", "deploy", str(EXAMPLE)]
    deployed = subprocess.run(deploy, env=_env(served.home), capture_output=True, text=True, timeout=240)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert f"Greeter.greet   http://web-hosts-greeter-greet.{DOMAIN}:{served.port}/" in deployed.stdout
    assert _get(served.urls["Greeter.greet"]).json() == {"greeting": "hello nano"}
