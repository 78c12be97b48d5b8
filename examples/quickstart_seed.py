"""The success criteria of the nano-modal plan, as the user wrote them, run as a plain script:

    python examples/quickstart_seed.py [URL]

No `with app.run()`: the first `.remote()` starts the app (and, with no server
configured, the local server and worker), and it stops when the script ends. The plan
fetches https://example.com; give another URL to fetch that instead. Containers reach the
internet through their own network's NAT, never this machine's loopback or private networks
(docs/SECURITY.md).
"""

import sys

import nano_modal

app = nano_modal.App("test")
image = nano_modal.Image.python("3.11").pip_install("requests")


@app.function(image=image)
def fetch(url):
    import requests

    return len(requests.get(url).text)


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "https://example.com"

    # Single call
    print(fetch.remote(url))

    # Parallel calls
    sizes = list(fetch.map([url] * 10))
    print(sizes)
