"""Web endpoints: a FastAPI function, a whole ASGI app, and a WSGI app, each with its own URL.

    nano-modal run examples/web_endpoints.py
"""

import urllib.request

import nano_modal as modal

app = modal.App("web-endpoints")


@app.function()
@modal.fastapi_endpoint(method="GET")
def greet(name: str = "world") -> dict[str, str]:
    return {"greeting": f"hello {name}"}


@app.function()
@modal.asgi_app()
def api():  # type: ignore[no-untyped-def]
    from fastapi import FastAPI

    web = FastAPI()

    @web.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item": item_id, "double": item_id * 2}

    return web


@app.function()
@modal.wsgi_app()
def legacy():  # type: ignore[no-untyped-def]
    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"served by a WSGI app"]

    return wsgi


@app.cls()
class Shouter:
    suffix: str = modal.parameter(default="!")

    @modal.fastapi_endpoint()
    def shout(self, word: str = "hey") -> dict[str, str]:
        return {"shout": word.upper() + self.suffix}


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode()


@app.local_entrypoint()
def main() -> None:
    print(greet.get_web_url())
    print(fetch(greet.get_web_url() + "?name=nano"))
    print(fetch(api.get_web_url() + "items/21"))
    print(fetch(legacy.get_web_url()))
    # A class's endpoint has a URL per instance: its parameters are in the URL's query.
    print(fetch(Shouter(suffix="!!").shout.get_web_url() + "&word=nano"))
