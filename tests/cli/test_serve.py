"""`nano-modal serve`: the app is live, and reloads with the same URL when its file changes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import Cluster
from tests.helpers import wait_for

SOURCE = """
import nano_modal

app = nano_modal.App("serve-test")


@app.function()
@nano_modal.fastapi_endpoint()
def hello() -> str:
    return "{word}"
"""


def test_serve_reloads_on_change(cluster: Cluster, tmp_path: Path) -> None:
    app_file = tmp_path / "served.py"
    app_file.write_text(SOURCE.format(word="first"))
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nano_modal.cli", "serve", str(app_file), "--timeout", "60"],
            env=cluster.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_for(lambda: "hello: http" in log.read_text(), timeout=30), log.read_text()
        url = log.read_text().split("hello: ")[1].split()[0]
        assert "/serve-test/hello/" in url
        assert httpx.get(url, timeout=30).json() == "first"
        time.sleep(1.1)  # mtime granularity
        app_file.write_text(SOURCE.format(word="second"))

        def reloaded() -> bool:
            try:
                return bool(httpx.get(url, timeout=10).json() == "second")
            except (httpx.HTTPError, ValueError):
                return False

        assert wait_for(reloaded, timeout=40, interval=0.5), log.read_text()
        assert "reloading" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)
