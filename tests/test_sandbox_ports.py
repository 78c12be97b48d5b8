"""Sandbox.create(encrypted_ports=) and Sandbox.tunnels(): a real HTTP client reaches servers in
a sandbox through the gateway (server/sandbox_ports.py), on the process runtime and on bwrap,
where the sandbox has a network namespace of its own that the host cannot dial into."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.helpers import run_script
from tests.worker._drive import require

ECHO = r"""
import http.server, json, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        out = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                          "modal_key": self.headers.get("modal-key")}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("x-from", "sandbox")
        self.end_headers()  # no content-length: the body ends when the connection closes
        self.wfile.write(out)
    do_GET = do_POST = _answer
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""

DRIVER = r"""
import json, socket, sys
import httpx
import nano_modal
from nano_modal.exception import InvalidError, SandboxTerminatedError

python, echo, files_port, echo_port, idle_port = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
app = nano_modal.App("sandbox-ports")
out = {}
with app.run(show_logs=False):
    sb = nano_modal.Sandbox.create(
        python, "-m", "http.server", str(files_port), "--bind", "127.0.0.1", "--directory", "/tmp",
        app=app, timeout=300, encrypted_ports=[files_port, echo_port, idle_port],
        readiness_probe=nano_modal.Probe.with_tcp(files_port),
    )
    with sb.open("/tmp/hello.txt", "w") as f:
        f.write("hello from the sandbox")
    sb.exec(python, "-c", echo, str(echo_port))
    sb.wait_until_ready()
    tunnels = sb.tunnels()
    out["ports"] = sorted(tunnels)
    out["url"] = tunnels[files_port].url
    got = httpx.get(tunnels[files_port].url + "/hello.txt", timeout=60)
    out["file"] = [got.status_code, got.text]
    out["missing"] = httpx.get(tunnels[files_port].url + "/nope.txt", timeout=60).status_code
    for _ in range(100):  # the echo server starts after the exec
        if sb.exec(python, "-c", f"import socket; socket.create_connection(('127.0.0.1', {echo_port}))").wait() == 0:
            break
    echo_url = tunnels[echo_port].url
    got = httpx.get(echo_url + "/a/b?q=1&r=two", headers={"Modal-Key": "k"}, timeout=60)
    out["get"] = [got.status_code, got.headers.get("x-from"), got.json()]
    posted = httpx.post(echo_url + "/submit", content=b"payload " * 100000, timeout=60)
    out["post"] = [posted.status_code, len(posted.json()["body"])]
    idle = httpx.get(tunnels[idle_port].url + "/", timeout=60)
    out["idle"] = [idle.status_code, idle.text]
    try:  # from the host: on bwrap the sandbox's ports are in its own network namespace
        socket.create_connection(("127.0.0.1", files_port), timeout=3).close()
        out["direct"] = "connected"
    except OSError:
        out["direct"] = "refused"
    sb.terminate(wait=True)
    out["after"] = httpx.get(tunnels[files_port].url + "/hello.txt", timeout=60).status_code
    try:
        sb.tunnels()
    except SandboxTerminatedError as exc:
        out["tunnels_after"] = str(exc)
    for kwargs in ({"block_network": True, "encrypted_ports": [8000]}, {"unencrypted_ports": [8000]},
                   {"h2_ports": [8000]}, {"encrypted_ports": [0]}):
        try:
            nano_modal.Sandbox.create(app=app, **kwargs)
        except InvalidError as exc:
            out.setdefault("refused", []).append(str(exc))
print("RESULT " + json.dumps(out))
"""


def free_ports(n: int) -> list[int]:
    """Ports free on this host now (the process runtime shares the host's)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def drive(cluster: Cluster, directory: Path) -> dict[str, Any]:
    ports = free_ports(3)
    args = [sys.executable, ECHO, *map(str, ports)]
    proc = run_script(directory, DRIVER, *args, env=cluster.env(), timeout=240)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    found: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    found["asked"] = ports
    return found


@pytest.fixture(scope="module", params=["process", "bwrap"])
def results(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    isolated_cluster: Callable[..., Cluster],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    if request.param != "process":
        require(request.param)
    target = cluster if request.param == "process" else isolated_cluster(request.param)
    found = drive(target, tmp_path_factory.mktemp(f"ports-{request.param}"))
    found["runtime"] = request.param
    return found


def test_tunnels_reach_http_servers_in_the_sandbox(results: dict[str, Any]) -> None:
    idle_port = results["asked"][2]
    assert results["ports"] == sorted(results["asked"])
    assert results["url"].startswith("http://") and "/_tunnel/" in results["url"]
    assert results["file"] == [200, "hello from the sandbox"]  # python -m http.server, as in Modal's docs
    assert results["missing"] == 404
    status, from_header, echoed = results["get"]
    assert status == 200 and from_header == "sandbox"
    assert echoed["method"] == "GET" and echoed["path"] == "/a/b?q=1&r=two" and echoed["body"] == ""
    assert echoed["modal_key"] is None  # the platform's credentials stay at the gateway
    assert results["post"] == [201, len("payload ") * 100000]
    status, text = results["idle"]
    assert status == 502 and f"nothing answered on port {idle_port} in the sandbox" in text


def test_the_relay_crosses_the_sandboxs_network_namespace(results: dict[str, Any]) -> None:
    """On bwrap the host cannot dial the port, yet the tunnel reached it: through the agent."""
    assert results["direct"] == ("connected" if results["runtime"] == "process" else "refused")


def test_tunnels_close_with_the_sandbox(results: dict[str, Any]) -> None:
    assert results["after"] == 404
    assert results["tunnels_after"].endswith("has finished: its ports are closed")


def test_what_cannot_be_relayed_is_refused_in_one_line(results: dict[str, Any]) -> None:
    blocked, raw, h2, bad = results["refused"]
    assert blocked.startswith("a sandbox with block_network=True cannot have encrypted_ports")
    assert "not raw TCP" in raw and "HTTP/1.1" in h2
    assert bad == "invalid port number 0"
