"""One generation of `nano-modal serve`: import the app, keep it live, show its web URLs."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from .run import find_app, import_app_module


def main() -> None:
    app = find_app(import_app_module(sys.argv[1]))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with app.run():
        for name, fn in app.registered_functions.items():
            url = fn.get_web_url()
            if url and app.app_id:
                # By name, the URL stays the same across reloads (the gateway picks the newest live run).
                print(f"  {name}: {url.replace(app.app_id, app.description)}", flush=True)
        print(f"serving {app.description}; edit its files to reload, Ctrl-C to stop", flush=True)
        parent = os.getppid()
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(1.0):
                if os.getppid() != parent:  # `nano-modal serve` is gone: so are we
                    break


if __name__ == "__main__":
    main()
