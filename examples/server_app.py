"""A Server: a class whose `@modal.enter()` starts an HTTP server of its own (any program that
listens on the port: here Python's http.server), served by the gateway at a stable URL and
scaled like any function. `update_autoscaler` changes its scaling while it runs.

    nano-modal run examples/server_app.py
    nano-modal deploy examples/server_app.py      # then, from anywhere:
    modal.Server.from_name("server-app", "StaticFiles").get_url()
"""

import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import nano_modal as modal

app = modal.App("server-app")
PORT = 8093  # the port the server listens on, inside its container


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


@app.local_entrypoint()
def main() -> None:
    url = StaticFiles.get_url()
    print("served at", url)
    with urllib.request.urlopen(url + "status.json", timeout=60) as response:
        print("status.json:", json.load(response))
    info = StaticFiles.info()
    print(f"port {info.port}, unauthenticated {info.unauthenticated}")
    settings = StaticFiles.update_autoscaler(min_containers=1, max_containers=2)
    print(f"autoscaler: min {settings.min_containers}, max {settings.max_containers}")
    print("settings read back:", StaticFiles.autoscaler.settings() == settings)
