"""One generation of `nano-modal serve`: import the app, keep it live, show its web URLs."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from .._utils.aio import run_blocking
from ..client import Client
from ._web_urls import endpoint_urls
from .run import find_app, import_app_module


def main() -> None:
    app = find_app(import_app_module(sys.argv[1]))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with app.run():
        # By name, the URLs stay the same across reloads (the gateway picks the newest live run).
        for name, url in endpoint_urls(app, app.description, run_blocking(Client.get())):
            print(f"  {name}: {url}", flush=True)
        print(f"serving {app.description}; edit its files to reload, Ctrl-C to stop", flush=True)
        parent = os.getppid()
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(1.0):
                if os.getppid() != parent:  # `nano-modal serve` is gone: so are we
                    break


if __name__ == "__main__":
    main()
