"""A Server for tests/test_server_stats.py: answers 404 under /missing, else 200 with its container's id."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nano_modal as modal

app = modal.App("server-stats-test")
PORT = 8097  # its own: the process runtime's containers share the worker's network


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = os.environ["MODAL_TASK_ID"].encode()
        self.send_response(404 if self.path.startswith("/missing") else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@app.server(port=PORT, unauthenticated=True)
class Counted:
    @modal.enter()
    def start(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", PORT), _Answer)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @modal.exit()
    def stop(self) -> None:
        self.httpd.shutdown()
