"""Web endpoints with hosts of their own, as on Modal: a small site that builds its URLs
from the request (a redirect, a form, a page opening a WebSocket to its own address), an
endpoint with FastAPI's docs pages, and a class endpoint.

Give the server a wildcard domain, then serve the app the way Modal's docs say:

    nano-modal server --web-domain nano.localhost      # or NANO_MODAL_WEB_DOMAIN=nano.localhost
    nano-modal serve examples/web_hosts.py

`serve` prints one URL per endpoint, e.g. http://web-hosts-site.nano.localhost:PORT/ (browsers
and curl resolve every *.localhost name to this machine; with Python, send the Host header to
127.0.0.1). The path form, http://HOST:PORT/web-hosts/site/, keeps working, and the site's
URLs are right in both.
"""

from typing import Any

import nano_modal as modal

app = modal.App("web-hosts")

PAGE = """<!doctype html>
<form method="post" action="{submit}"><input name="text"><button>shout</button></form>
<script>
  const ws = new WebSocket("{ws_url}");
  ws.onmessage = (event) => console.log(event.data);
</script>
"""


@app.function()
@modal.asgi_app()
def site():  # type: ignore[no-untyped-def]
    from urllib.parse import parse_qs

    from fastapi import FastAPI, Request, WebSocket
    from fastapi.responses import HTMLResponse, RedirectResponse

    web = FastAPI()

    @web.get("/")
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(str(request.url_for("page")))

    @web.get("/page", response_class=HTMLResponse)
    def page(request: Request) -> str:
        ws_url = str(request.url_for("echo")).replace("http", "ws", 1)
        return PAGE.format(submit=request.url_for("submit"), ws_url=ws_url)

    @web.post("/submit")
    async def submit(request: Request) -> dict[str, str]:
        form = parse_qs((await request.body()).decode())  # a plain form post, no multipart parser needed
        return {"shout": form["text"][0].upper()}

    @web.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(f"echo: {text}")

    return web


@app.function()
@modal.fastapi_endpoint(docs=True)
def square(x: int) -> dict[str, int]:
    return {"square": x * x}


@app.cls()
class Greeter:
    @modal.fastapi_endpoint()
    def greet(self, name: str = "nano") -> dict[str, Any]:
        return {"greeting": f"hello {name}"}
