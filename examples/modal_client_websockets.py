"""A Modal program with a WebSocket endpoint, unchanged: nano-modal's gateway relays the session.

    modal deploy examples/modal_client_websockets.py   # set up as in examples/modal_client_app.py;
                                                       # prints the app's URL, http://<gateway>/nano-compat-websockets/chat/
    python -m websockets ws://<gateway>/nano-compat-websockets/chat/echo

The FastAPI app runs in Modal's own container entrypoint; what the client sends reaches its
`receive()`, what it sends (and its close, with its own code) reaches the client
(docs/MODAL_CLIENT.md, "Web endpoints"; tests/modal_compat/test_real_client_websockets.py
runs this file).
"""

import modal

app = modal.App("nano-compat-websockets")
BYE_CODE = 4001  # the app's own close code (4000-4999: RFC 6455's range for applications)


@app.function()
@modal.asgi_app()
def chat():
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect

    web = FastAPI()

    @web.get("/")
    def index() -> dict[str, str]:
        return {"websockets": "/echo, /countdown/{n}"}

    @web.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message.get("code", 1000))
                if message.get("bytes") is not None:
                    await ws.send_bytes(message["bytes"][::-1])
                elif message["text"] == "bye":
                    await ws.close(code=BYE_CODE, reason="bye to you")
                    return
                else:
                    await ws.send_text(f"echo: {message['text']}")
        except WebSocketDisconnect as gone:
            # The client hung up: the app hears it, as in Modal's cloud.
            log = modal.Dict.from_name("nano-compat-websockets-log", create_if_missing=True)
            await log.put.aio("left", gone.code)

    @web.websocket("/countdown/{n}")
    async def countdown(ws: WebSocket, n: int) -> None:
        await ws.accept()
        for i in range(n, 0, -1):
            await ws.send_text(str(i))
        await ws.close()  # the server ends the session

    return web
