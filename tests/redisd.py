"""A real redis-server for the tests: in a temp dir, on a free loopback port, with an append-only file.

`appendfsync always`: Redis answers a write only once it is on disk, so a server killed with
SIGKILL and started again on the same directory still holds every write it acknowledged.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.helpers import free_port


def available() -> bool:
    return shutil.which("redis-server") is not None


SKIP_REASON = "redis-server is not installed (scripts/test.sh installs it: apt-get install redis-server)"


class RedisServer:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, SKIP_REASON
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.base), "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"]
        log = (self.base / "redis.log").open("ab")
        self.proc = subprocess.Popen([binary, *args], stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:  # refused, or still loading its file
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start: " + (self.base / "redis.log").read_text()) from None
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything more than what it already acknowledged."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(Path(tempfile.mkdtemp(prefix="nano-modal-redis-")))
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(server.base, ignore_errors=True)
