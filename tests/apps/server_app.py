"""A Server for tests/test_server.py: each container answers with its own id and the path asked."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nano_modal as modal

app = modal.App("server-test")
PORT = 8094


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{os.environ['MODAL_TASK_ID']} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print("served", self.path)


class _SharedPortServer(ThreadingHTTPServer):
    # The process runtime's containers share the worker's network: two of them bind one port.
    allow_reuse_port = True
    daemon_threads = True


@app.server(port=PORT, unauthenticated=True, scaledown_window=120)
class Echo:
    @modal.enter()
    def start(self) -> None:
        self.httpd = _SharedPortServer(("127.0.0.1", PORT), _Answer)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @modal.exit()
    def stop(self) -> None:
        self.httpd.shutdown()

