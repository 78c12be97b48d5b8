"""A function container booted before it has a function (worker/preboot.py keeps a few).

Under gVisor, a cold start spends ~0.2 s in `runsc` and ~1 s importing the entrypoint's
modules, each file read a round trip to gVisor's gofer. A pre-booted container has done
both while idle: it imports what every function container imports, then blocks on stdin.
The worker writes one line, the container's own environment as JSON, and closes stdin;
from there this is an ordinary function container (entrypoint.main) with that environment.

Each pre-booted container serves exactly one assignment: nothing of one tenant's is ever
seen by another's. On end of file without an assignment (the worker let it go, or died),
it exits.
"""

from __future__ import annotations

import json
import os
import sys

import cloudpickle  # noqa: F401  # imported by every function's unpickling: now, while idle

from . import _site, entrypoint


def main() -> None:
    # The .pth hooks too (they run before any user code either way), with the boot environment:
    # ~0.1 s under gVisor that a caller would otherwise wait for.
    _site.finish()
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return
    env: dict[str, str] = json.loads(line)
    os.environ.clear()
    os.environ.update(env)
    entrypoint.main()
