"""A sessioned Server for tests/test_server_sessions.py: each container answers with its own id."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nano_modal as modal

app = modal.App("server-sessions-test")
PORT = 8095


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        leaked = self.headers.get("Modal-Authorization") is not None  # the gateway keeps it
        body = f"{os.environ['MODAL_TASK_ID']} {self.path} token-seen={leaked}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@app.server(port=PORT, unauthenticated=True)
@modal.sessioned()
class Sticky:
    @modal.enter()
    def start(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", PORT), _Answer)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
