"""Sandbox.create(encrypted_ports=) and Sandbox.tunnels(): a real HTTP client reaches servers in
a sandbox through the gateway (server/sandbox_ports.py), on the process runtime, on bwrap and on
gVisor, where the sandbox has a network of its own that the host cannot dial into."""

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
                          "modal_key": self.headers.get("modal-key"),
                          "verified": self.headers.get_all("x-verified-user-data"),
                          "authorization": self.headers.get("authorization")}).encode()
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
        readiness_probe=nano_modal.Probe.with_tcp(files_port), inbound_cidr_allowlist=["127.0.0.0/8", "::1/128"],
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
    creds = sb.create_connect_token(user_metadata={"user": "ada"}, port=echo_port)
    out["no_token"] = httpx.get(creds.url + "/x", timeout=60).status_code
    out["bad_token"] = httpx.get(creds.url + "/x", headers={"Authorization": "Bearer nope"}, timeout=60).status_code
    forged = {"Authorization": f"Bearer {creds.token}", "X-Verified-User-Data": '{"user": "root"}'}
    got = httpx.get(creds.url + "/x?a=1", headers=forged, timeout=60)
    out["bearer"] = [got.status_code, got.json()]
    got = httpx.get(f"{creds.url}/y?_modal_connect_token={creds.token}&b=2", headers={"Authorization": "Bearer app"},
                    timeout=60)
    out["by_param"] = [got.status_code, got.json()]
    plain = sb.create_connect_token(port=echo_port)
    got = httpx.get(plain.url + "/z", headers={"Authorization": f"Bearer {plain.token}"}, timeout=60)
    out["no_metadata"] = [plain.url == creds.url, got.status_code, got.json()["verified"]]
    guarded = nano_modal.Sandbox.create(app=app, encrypted_ports=[files_port],
                                        inbound_cidr_allowlist=["203.0.113.0/24"])
    denied = httpx.get(guarded.tunnels()[files_port].url, timeout=60)
    out["not_allowed"] = [denied.status_code, denied.text]
    token = guarded.create_connect_token(port=files_port)
    out["not_allowed_token"] = httpx.get(token.url, headers={"Authorization": f"Bearer {token.token}"},
                                         timeout=60).status_code
    guarded.terminate()
    try:  # from the host: on bwrap and gVisor the sandbox's ports are in a network of its own
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
                   {"h2_ports": [8000]}, {"encrypted_ports": [0]}, {"outbound_cidr_allowlist": ["fd00::/8"]},
                   {"outbound_domain_allowlist": ["example.com"]}, {"runtime": "gvisor"},
                   {"inbound_cidr_allowlist": ["not-a-cidr"]}):
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


@pytest.fixture(scope="module", params=["process", "bwrap", "gvisor"])
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
    """On bwrap and gVisor the host cannot dial the port, yet the tunnel reached it: through the agent."""
    assert results["direct"] == ("connected" if results["runtime"] == "process" else "refused")


def test_connect_tokens_admit_and_vouch_for_callers(results: dict[str, Any]) -> None:
    assert results["no_token"] == 401 and results["bad_token"] == 401
    status, echoed = results["bearer"]
    assert status == 200 and echoed["path"] == "/x?a=1"
    assert echoed["verified"] == ['{"user": "ada"}']  # the token's metadata; the caller's forgery dropped
    assert echoed["authorization"] is None  # the token stays at the gateway
    status, echoed = results["by_param"]
    assert status == 200 and echoed["path"] == "/y?b=2" and echoed["verified"] == ['{"user": "ada"}']
    assert echoed["authorization"] == "Bearer app"  # the app's own credential passes through
    assert results["no_metadata"] == [True, 200, None]  # one URL per port; each token its own metadata


def test_inbound_cidr_allowlist_turns_other_callers_away(results: dict[str, Any]) -> None:
    """The first sandbox allowed loopback (every request above came from it); this one did not."""
    status, text = results["not_allowed"]
    assert status == 403 and "not in the sandbox's inbound_cidr_allowlist" in text
    assert results["not_allowed_token"] == 403


def test_tunnels_close_with_the_sandbox(results: dict[str, Any]) -> None:
    assert results["after"] == 404
    assert results["tunnels_after"].endswith("has finished: its ports are closed")


def test_what_cannot_be_relayed_is_refused_in_one_line(results: dict[str, Any]) -> None:
    blocked, raw, h2, bad, cidrs, domains, runtime, inbound = results["refused"]
    assert blocked.startswith("a sandbox with block_network=True cannot have encrypted_ports")
    assert "not raw TCP" in raw and "HTTP/1.1" in h2
    assert bad == "invalid port number 0"
    # Security options nano-modal cannot enforce are refused, never accepted and ignored.
    assert cidrs == "outbound_cidr_allowlist: 'fd00::/8': sandboxes have no IPv6 route out"
    assert domains.startswith("Sandbox.create(outbound_domain_allowlist=...): an outbound allowlist of domain")
    assert runtime.startswith("Sandbox.create(runtime='gvisor'): the runtime is the worker's")
    assert inbound == "inbound_cidr_allowlist: 'not-a-cidr' is not a network in CIDR form"
