"""A WebSocket chat through `@asgi_app`, and a plain HTTP server of the function's own
behind `@web_server`: both get stable URLs from the gateway and scale like any function.
A running function can also open a port for a while with `modal.forward` (a tunnel): its URL
reaches the port until the `with` block ends.

    nano-modal run examples/websockets_and_web_server.py
"""

import json
import time
import urllib.request

from websockets.sync.client import connect

import nano_modal as modal

app = modal.App("websockets-and-web-server")


@app.function()
@modal.asgi_app()
def chat():  # type: ignore[no-untyped-def]
    from fastapi import FastAPI, WebSocket

    web = FastAPI()

    @web.websocket("/shout")
    async def shout(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(text.upper() + "!")

    return web


@app.function(max_containers=1)  # the port is the container's; with a shared network, one per worker
@modal.web_server(8089, startup_timeout=10)
def static_files() -> None:
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp())
    (root / "status.json").write_text(json.dumps({"ok": True, "served_by": "http.server"}))
    # Any program that listens on the port will do: a Rust binary, nginx, aiohttp, ...
    subprocess.Popen([sys.executable, "-m", "http.server", "8089", "--bind", "127.0.0.1", "-d", str(root)])


@app.function()
def notebook_like(box: modal.Dict) -> str:
    """A server for as long as the function wants it (Jupyter, a debugger, a dashboard...)."""
    import http.server
    import socket
    import threading
    import time

    with socket.socket() as probe:  # a free port: with a shared network, other containers use ports too
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with modal.forward(port) as tunnel:
        box["url"] = tunnel.url  # tell the caller where to look
        while "done" not in box:
            time.sleep(0.1)
    server.shutdown()
    return "tunnel closed"


@app.local_entrypoint()
def main() -> None:
    ws_url = chat.get_web_url().replace("http", "ws", 1) + "shout"
    with connect(ws_url, open_timeout=60) as ws:
        for word in ("hello", "websockets"):
            ws.send(word)
            print(ws.recv(timeout=30))
    with urllib.request.urlopen(static_files.get_web_url() + "status.json", timeout=60) as response:
        print(json.load(response))
    with modal.Dict.ephemeral() as box:
        call = notebook_like.spawn(box)
        while "url" not in box:
            time.sleep(0.1)
        with urllib.request.urlopen(box["url"] + "/", timeout=60) as response:
            print("through the tunnel:", response.status, "directory listing" in response.read().decode().lower())
        box["done"] = True
        print(call.get())
