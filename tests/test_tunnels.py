"""modal.forward: a port inside a function container, reached by a real HTTP client through
the gateway (server/tunnels.py, nano_modal/_tunnel.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nano_modal
from nano_modal.exception import InvalidError
from tests.conftest import REPO, Cluster
from tests.helpers import run_script

SCRIPT = """
import json, time
import httpx
import nano_modal

app = nano_modal.App("tunnels")

@app.function(timeout=120)
def serve(box):
    import http.server, socket, threading

    class Echo(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            out = json.dumps({
                "method": self.command, "path": self.path, "body": body.decode(),
                "host": self.headers.get("host"), "modal_key": self.headers.get("modal-key"),
            }).encode()
            self.send_response(201 if self.command == "POST" else 200)
            self.send_header("content-type", "application/json")
            self.send_header("x-from", "container")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        do_GET = do_POST = _answer
        def log_message(self, *args):
            pass

    with socket.socket() as probe:  # a free port: the process runtime shares the host's ports
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with nano_modal.forward(port) as tunnel:
        try:
            with nano_modal.forward(port):
                pass
        except Exception as exc:
            box["twice"] = f"{type(exc).__name__}: {exc}"
        box["url"] = tunnel.url  # before the server listens: the relay answers 502 meanwhile
        while "probed" not in box:
            time.sleep(0.05)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Echo)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        box["listening"] = True
        while "done" not in box:
            time.sleep(0.05)
        server.shutdown()
    return "closed"

@app.function(restrict_modal_access=True)
def restricted():
    try:
        with nano_modal.forward(8000):
            return "opened"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

@app.function(block_network=True)
def cut_off():
    try:
        with nano_modal.forward(8000):
            return "opened"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

if __name__ == "__main__":
    out = {}
    with app.run(), nano_modal.Dict.ephemeral() as box:
        call = serve.spawn(box)
        deadline = time.monotonic() + 90
        while "url" not in box and time.monotonic() < deadline:
            time.sleep(0.1)
        url = box["url"]
        out["url"] = url
        out["before"] = httpx.get(url + "/x", timeout=30).status_code
        box["probed"] = True
        while "listening" not in box:
            time.sleep(0.05)
        got = httpx.get(url + "/hello/there?q=1&r=two", headers={"Modal-Key": "k"}, timeout=30)
        out["get"] = [got.status_code, got.headers.get("x-from"), got.json()]
        posted = httpx.post(url + "/submit", content=b"payload " * 1000, timeout=30)
        out["post"] = [posted.status_code, len(posted.json()["body"])]
        out["root"] = httpx.get(url, timeout=30).json()["path"]
        out["twice"] = box.get("twice")
        box["done"] = True
        out["result"] = call.get(timeout=60)
        out["after"] = httpx.get(url + "/hello", timeout=30).status_code
        out["guess"] = httpx.get(url.rsplit("/", 1)[0] + "/" + "0" * 32, timeout=30).status_code
        out["cut_off"] = cut_off.remote()
        out["restricted"] = restricted.remote()
    print("RESULT " + json.dumps(out))
"""


def test_forward_reaches_a_server_in_the_container_over_http(cluster: Cluster, tmp_path: Path) -> None:
    proc = run_script(tmp_path, SCRIPT, env=cluster.env(), timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["url"].startswith("http://") and "/_tunnel/" in out["url"]
    assert out["before"] == 502  # nothing listened on the port yet
    status, from_header, echoed = out["get"]
    assert status == 200 and from_header == "container"
    assert echoed["method"] == "GET" and echoed["path"] == "/hello/there?q=1&r=two" and echoed["body"] == ""
    assert echoed["modal_key"] is None  # the platform's credentials are not passed into the container
    assert echoed["host"] == out["url"].split("/")[2]  # the Host the client used
    assert out["post"] == [201, len("payload ") * 1000]
    assert out["root"] == "/"
    assert out["twice"] == "AlreadyExistsError: port " + out["twice"].split("port ", 1)[1]
    assert out["twice"].endswith("is already forwarded")
    assert out["result"] == "closed"
    assert out["after"] == 404 and out["guess"] == 404  # closed with its block; unknown keys lead nowhere
    # A tunnel is the platform's relay, and network access: functions without either may not open one.
    restricted = "InvalidError: restricted runs with restrict_modal_access=True: it may not forward ports"
    assert out["restricted"] == restricted
    assert out["cut_off"] == (
        "InvalidError: a function with block_network=True cannot forward ports: a tunnel would give it a network"
    )


def test_forward_outside_a_container_and_unsupported_modes_say_why() -> None:
    with pytest.raises(InvalidError, match="only works inside a container"), nano_modal.forward(8000):
        pass
    with pytest.raises(InvalidError, match="not raw TCP"):
        nano_modal.forward(22, unencrypted=True)
    with pytest.raises(InvalidError, match="Invalid port number 70000"):
        nano_modal.forward(70000)
    tunnel = nano_modal.Tunnel("example.org", 8080, _path="/_tunnel/abc")
    assert tunnel.url == "http://example.org:8080/_tunnel/abc"
    with pytest.raises(InvalidError, match="no TLS socket"):
        _ = tunnel.tls_socket
    with pytest.raises(InvalidError, match="not raw TCP; use encrypted_ports"):
        nano_modal.Sandbox.create("true", app=nano_modal.App("x"), unencrypted_ports=[8000])


HOST_FORM = """
import json, socket, threading, time, http.server
from urllib.parse import urlsplit
import httpx
import nano_modal

app = nano_modal.App("tunnel-hosts")

@app.function()
def serve(box):
    class Where(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            out = json.dumps({"path": self.path, "host": self.headers.get("host")}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        def log_message(self, *args):
            pass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Where)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with nano_modal.forward(port) as tunnel:
        box["url"] = tunnel.url
        while "done" not in box:
            time.sleep(0.05)
    server.shutdown()

if __name__ == "__main__":
    with app.run(), nano_modal.Dict.ephemeral() as box:
        call = serve.spawn(box)
        while "url" not in box:
            time.sleep(0.1)
        url = urlsplit(box["url"])
        # Python does not resolve *.localhost: connect to loopback and name the host, as a browser would.
        got = httpx.get(f"http://127.0.0.1:{url.port}/lab/tree?x=1", headers={"host": url.netloc}, timeout=30)
        print("RESULT " + json.dumps({"url": box["url"], "status": got.status_code, "seen": got.json()}))
        box["done"] = True
        call.get(timeout=60)
"""


def test_forward_has_a_host_of_its_own_with_a_web_domain(tmp_path: Path) -> None:
    """With `--web-domain`, the tunnel is the root of a host: an app's absolute paths work."""
    script = tmp_path / "host_form.py"
    script.write_text(HOST_FORM)
    env = {k: v for k, v in os.environ.items() if k not in ("NANO_MODAL_SERVER_URL", "NANO_MODAL_TOKEN")}
    env |= {"NANO_MODAL_HOME": str(tmp_path / "home"), "NANO_MODAL_WEB_DOMAIN": "nano.localhost"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    host = out["url"].split("/")[2]
    assert host.startswith("tunnel-") and host.split(":")[0].endswith(".nano.localhost"), out
    assert out["status"] == 200 and out["seen"] == {"path": "/lab/tree?x=1", "host": host}
