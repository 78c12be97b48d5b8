"""The success criteria of the nano-modal plan, as the user wrote them, run as a plain script:

    python examples/quickstart_seed.py

No `with app.run()`: the first `.remote()` starts the app (and, with no server
configured, an embedded server and worker), and it stops when the script ends. The plan
fetched https://example.com; this machine has no internet, so the script serves a page
on loopback instead.
"""

import http.server
import threading

import nano_modal

app = nano_modal.App("test")
image = nano_modal.Image.python("3.11").pip_install("requests")


@app.function(image=image)
def fetch(url):
    import requests

    return len(requests.get(url).text)


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>" + b"x" * 1250 + b"</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    # Single call
    print(fetch.remote(url))

    # Parallel calls
    sizes = list(fetch.map([url] * 10))
    print(sizes)
