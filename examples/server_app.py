"""A Server: a class whose `@modal.enter()` starts an HTTP server of its own (any program that
listens on the port: here Python's http.server), served by the gateway at a stable URL and
scaled like any function. `update_autoscaler` changes its scaling while it runs; `stats()`
counts its requests by the HTTP status they got.

With `@modal.sessioned()`, a Server has sticky sessions: `sessions.start()` gives a token, and
every request carrying it goes to one container of the session's own (a notebook, a game, a
browser: state that lives in one process), until it is idle for `idle_timeout` or terminated.

    nano-modal run examples/server_app.py
    nano-modal deploy examples/server_app.py      # then, from anywhere:
    modal.Server.from_name("server-app", "StaticFiles").get_url()
"""

import json
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nano_modal as modal

app = modal.App("server-app")
PORT = 8093  # the port the server listens on, inside its container
SESSIONS_PORT = 8096


@app.server(port=PORT, unauthenticated=True, scaledown_window=60, target_concurrency=8)
class StaticFiles:
    @modal.enter()
    def start(self) -> None:
        root = Path(tempfile.mkdtemp())
        (root / "status.json").write_text(json.dumps({"ok": True, "served_by": "http.server"}))
        command = [sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1", "-d", str(root)]
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL)

    @modal.exit()
    def stop(self) -> None:
        self.process.terminate()


@app.server(port=SESSIONS_PORT, unauthenticated=True)
@modal.sessioned()
class Tally:
    """Counts the requests its container has seen: a session's count goes up one by one."""

    @modal.enter()
    def start(self) -> None:
        seen = []

        class Count(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                body = str(len(seen)).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", SESSIONS_PORT), Count)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def get(url: str, token: str) -> str:
    request = urllib.request.Request(url, headers={"Modal-Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode()


@app.local_entrypoint()
def main() -> None:
    url = StaticFiles.get_url()
    print("served at", url)
    with urllib.request.urlopen(url + "status.json", timeout=60) as response:
        print("status.json:", json.load(response))
    try:
        urllib.request.urlopen(url + "missing.json", timeout=60)
    except urllib.error.HTTPError as exc:
        print("missing.json:", exc.code)
    stats = StaticFiles.stats()  # this run's requests (the last hour), by the status they got
    print("requests by status:", stats.request_count_by_status_code, "| containers:", stats.container_total_count)
    info = StaticFiles.info()
    print(f"port {info.port}, unauthenticated {info.unauthenticated}")
    settings = StaticFiles.update_autoscaler(min_containers=1, max_containers=2)
    print(f"autoscaler: min {settings.min_containers}, max {settings.max_containers}")
    print("settings read back:", StaticFiles.autoscaler.settings() == settings)

    session = Tally.sessions.start(idle_timeout=60)
    url = Tally.get_url()
    print("one session, one container:", [get(url, session.token) for _ in range(3)])
    Tally.sessions.terminate(session.token)
