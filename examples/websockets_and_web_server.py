"""A WebSocket chat through `@asgi_app`, and a plain HTTP server of the function's own
behind `@web_server`: both get stable URLs from the gateway and scale like any function.

    nano-modal run examples/websockets_and_web_server.py
"""

import json
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


@app.local_entrypoint()
def main() -> None:
    ws_url = chat.get_web_url().replace("http", "ws", 1) + "shout"
    with connect(ws_url, open_timeout=60) as ws:
        for word in ("hello", "websockets"):
            ws.send(word)
            print(ws.recv(timeout=30))
    with urllib.request.urlopen(static_files.get_web_url() + "status.json", timeout=60) as response:
        print(json.load(response))
