"""Classes, concurrency, batching and web endpoints, shipped by module reference."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import nano_modal

app = nano_modal.App("lifecycle-tests")


@app.cls(scaledown_window=2)
class Counter:
    start: int = nano_modal.parameter(default=0)
    label: str = nano_modal.parameter(default="plain")

    @nano_modal.enter()
    def setup(self) -> None:
        self.entered_at = time.time()
        self.calls = 0

    @nano_modal.method()
    def bump(self) -> dict[str, Any]:
        self.calls += 1
        return {
            "value": self.start + self.calls,
            "label": self.label,
            "container": os.environ.get("NANO_MODAL_CONTAINER_ID", "local"),
            "entered_at": self.entered_at,
        }

    @nano_modal.method()
    def countdown(self, n: int):  # type: ignore[no-untyped-def]
        yield from range(n, 0, -1)


@app.cls()
class ExitRecorder:
    directory: str = nano_modal.parameter()

    @nano_modal.method()
    def ping(self) -> str:
        return "pong"

    @nano_modal.exit()
    def record(self) -> None:
        with open(os.path.join(self.directory, "exited"), "w") as f:
            f.write(os.environ["NANO_MODAL_CONTAINER_ID"])


@app.function()
@nano_modal.concurrent(max_inputs=8)
def overlap(i: int) -> tuple[float, float, str, int]:
    start = time.time()
    time.sleep(0.5)
    return start, time.time(), os.environ["NANO_MODAL_CONTAINER_ID"], threading.get_ident()


@app.function()
@nano_modal.batched(max_batch_size=5, wait_ms=300)
def batch_sizes(xs: list[int]) -> list[tuple[int, int]]:
    return [(x, len(xs)) for x in xs]


@app.function()
@nano_modal.batched(max_batch_size=4, wait_ms=50)
def bad_batch(xs: list[int]) -> list[int]:
    return xs[:1]  # wrong length: every caller of the batch must get the error


@app.function()
@nano_modal.fastapi_endpoint(method="POST")
def echo(item: dict[str, Any]) -> dict[str, Any]:
    return {"got": item}


@app.function()
@nano_modal.fastapi_endpoint(requires_proxy_auth=True)
def guarded() -> str:
    return "secret stuff"


@app.function()
@nano_modal.asgi_app()
def streaming():  # type: ignore[no-untyped-def]
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    web = FastAPI()

    @web.get("/ticks")
    def ticks() -> StreamingResponse:
        def gen():  # type: ignore[no-untyped-def]
            for i in range(3):
                yield f"{i}:{time.time()}\n"
                time.sleep(0.4)

        return StreamingResponse(gen(), media_type="text/plain")

    @web.get("/boom")
    def boom() -> None:
        raise RuntimeError("endpoint failed")

    return web


@app.cls()
class Greeter:
    greeting: str = nano_modal.parameter(default="hello")
    times: int = nano_modal.parameter(default=1)

    @nano_modal.fastapi_endpoint()
    def greet(self, name: str) -> dict[str, Any]:
        return {
            "text": " ".join([f"{self.greeting} {name}"] * self.times),
            "container": os.environ["NANO_MODAL_CONTAINER_ID"],
        }


@app.cls(max_containers=1, scaledown_window=2)
class QueuedGreeter:
    """One container per parameter set, so that requests queue up for it: after a quick one it
    takes the waiting ones in a batch (tests/server/test_web_class_load.py)."""

    greeting: str = nano_modal.parameter(default="hello")

    @nano_modal.fastapi_endpoint()
    async def greet(self, name: str, hold: float = 0.0) -> dict[str, Any]:
        if hold:
            time.sleep(hold)  # blocks the container: the requests behind it wait in its queue
        return {"text": f"{self.greeting} {name}", "container": os.environ["NANO_MODAL_CONTAINER_ID"]}


@app.function(scaledown_window=60)
@nano_modal.asgi_app()
def works_after_answering():  # type: ignore[no-untyped-def]
    """Answers at once, then works on for a second (a background task, as FastAPI's)."""
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def answer(request: Request) -> JSONResponse:
        container = os.environ["NANO_MODAL_CONTAINER_ID"]
        return JSONResponse({"container": container}, background=BackgroundTask(time.sleep, 1.0))

    return Starlette(routes=[Route("/", answer)])


@app.function()
@nano_modal.asgi_app()
def chat():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def talk(ws: WebSocket) -> None:
        await ws.accept(subprotocol=ws.scope["subprotocols"][0] if ws.scope["subprotocols"] else None)
        try:
            while True:
                message = await ws.receive()
                if message.get("text") == "bye":
                    await ws.close(code=4000, reason="see you")
                    return
                if message.get("text") is not None:
                    await ws.send_text(message["text"].upper())
                elif message.get("bytes") is not None:
                    await ws.send_bytes(message["bytes"][::-1])
                else:
                    return
        except WebSocketDisconnect:
            return

    async def refuse(ws: WebSocket) -> None:
        await ws.close()

    def cookies(request: Any) -> Response:
        response = Response("two cookies")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    return Starlette(
        routes=[WebSocketRoute("/ws", talk), WebSocketRoute("/refuse", refuse), Route("/cookies", cookies)]
    )


class _Evil:
    """Runs a command when unpickled: what a hostile container would send to the gateway."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


@app.function()
@nano_modal.asgi_app()
def hostile():  # type: ignore[no-untyped-def]
    async def web(scope: dict[str, Any], receive: Any, send: Any) -> None:
        from urllib.parse import parse_qs

        path = parse_qs(scope["query_string"].decode())["path"][0]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-evil", _Evil(path))]})
        await send({"type": "http.response.body", "body": b"pwned?"})

    return web


WEB_SERVER_PORT = 47613  # an unusual port: containers share the worker's network here


@app.function(max_containers=1)  # one server per port: containers share the worker's network here
@nano_modal.web_server(WEB_SERVER_PORT, startup_timeout=10)
def plain_http_server() -> None:
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.dumps(
                {"method": self.command, "path": self.path, "body": self.rfile.read(length).decode()}
            ).encode()
            self.send_response(201)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", WEB_SERVER_PORT), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
