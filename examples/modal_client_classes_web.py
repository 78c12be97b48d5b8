"""A Modal program whose class serves the web, unchanged: methods as endpoints, options, exit hooks.

    modal deploy examples/modal_client_classes_web.py   # set up as in examples/modal_client_app.py;
                                                        # prints each endpoint's URL:
    curl 'http://<gateway>/nano-compat-cls-web/Greeter.greet/?name=bob'
    curl http://<gateway>/nano-compat-cls-web/Greeter.api/shout/hey
    curl http://<gateway>/nano-compat-cls-web/files/   # @modal.web_server: a server of its own
    modal app stop -y nano-compat-cls-web               # Greeter's @modal.exit() runs

One container of `Greeter` serves all its methods, web or not, and keeps its state between
requests (docs/MODAL_CLIENT.md, "Web endpoints"; tests/modal_compat/test_real_client_classes_web.py
runs this file).
"""

import os
import subprocess
import sys
import tempfile

import modal

app = modal.App("nano-compat-cls-web")
WEB_SERVER_PORT = 8000
LOG = "nano-compat-cls-web-log"  # a modal.Dict the exit hook writes to


@app.cls()
class Greeter:
    @modal.enter()
    def setup(self) -> None:
        self.greeting = "hello"
        self.served = 0

    @modal.fastapi_endpoint()
    def greet(self, name: str = "world") -> dict[str, object]:
        self.served += 1
        return {"text": f"{self.greeting} {name}", "served": self.served}

    @modal.asgi_app()
    def api(self):
        from fastapi import FastAPI

        web = FastAPI()

        @web.get("/shout/{word}")
        def shout(word: str) -> dict[str, str]:
            return {"shout": f"{self.greeting} {word}".upper()}

        return web

    @modal.fastapi_endpoint(requires_proxy_auth=True)
    def guarded(self) -> dict[str, bool]:
        return {"ok": True}

    @modal.method()
    def whoami(self) -> str:
        return os.environ.get("WHO", "nobody")

    @modal.exit()
    def goodbye(self) -> None:
        # Under the container's WHO (a variant's secret), so that containers do not overwrite each other.
        modal.Dict.from_name(LOG, create_if_missing=True)[os.environ.get("WHO", "nobody")] = f"served {self.served}"


@app.function()
@modal.web_server(WEB_SERVER_PORT, startup_timeout=60)
def files() -> None:
    site = tempfile.mkdtemp()
    with open(os.path.join(site, "index.html"), "w") as page:
        page.write("hello from a web server\n")
    command = [sys.executable, "-m", "http.server", str(WEB_SERVER_PORT), "--directory", site]
    subprocess.Popen(command)  # the server keeps running; the function returns
