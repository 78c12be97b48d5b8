"""What a bare `nano-modal server` prints: addresses clients can dial (never 0.0.0.0), the web
endpoints' and dashboard's port, and how to sign in to the dashboard."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

from nano_modal.server import banner
from nano_modal.server.main import DEFAULT_HTTP_PORT, build_parser
from tests.conftest import stop


def _banner(state_dir: Path, *args: str) -> str:
    """The server's stderr up to its dashboard line (it then keeps running; it is stopped here)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nano_modal.server", "--port", "0", "--state-dir", str(state_dir), *args],
        env={**os.environ, "NANO_MODAL_TOKEN": secrets.token_hex(8)},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        for line in proc.stderr:
            seen.append(line)
            if "dashboard:" in line or time.monotonic() > deadline:
                break
    finally:
        stop(proc)  # type: ignore[arg-type]
    return "".join(seen)


def test_wildcard_bind_prints_addresses_clients_can_use(tmp_path: Path) -> None:
    out = _banner(tmp_path, "--host", "0.0.0.0", "--http-port", "0")
    assert "0.0.0.0" not in out, out
    port = re.search(r"listening on \S+:(\d+)", out)
    assert port is not None, out
    assert f"127.0.0.1:{port.group(1)}" in out and f"{banner.reachable_hosts('0.0.0.0')[0]}:" in out, out
    dashboard = re.search(r"dashboard: +(http://\S+:(\d+))/_/ .*admin token", out)
    assert dashboard is not None, out
    assert re.search(rf"web endpoints: +{re.escape(dashboard.group(1))}/<app>/<function>/", out), out
    assert "$NANO_MODAL_TOKEN" in out  # where the token to sign in with comes from


def test_bare_server_serves_web_on_the_documented_port(tmp_path: Path) -> None:
    assert build_parser().parse_args([]).http_port is None  # None: DEFAULT_HTTP_PORT, if free
    out = _banner(tmp_path)
    dashboard = re.search(r"dashboard: +http://127\.0\.0\.1:(\d+)/_/", out)
    assert dashboard is not None, out
    # 8000 unless another server (a test run beside this one) holds it; then a free port, said so
    assert int(dashboard.group(1)) == DEFAULT_HTTP_PORT or f"HTTP port {DEFAULT_HTTP_PORT} is in use" in out, out
