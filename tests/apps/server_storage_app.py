"""A function that prints a lot: for tests/security/test_server_storage.py."""

from __future__ import annotations

import sys

import nano_modal

app = nano_modal.App("server-storage-tests")


@app.function()
def shout(megabytes: int) -> int:
    line = "y" * 1023 + "\n"
    for _ in range(megabytes * 1024):
        sys.stdout.write(line)
    sys.stdout.flush()
    return megabytes
