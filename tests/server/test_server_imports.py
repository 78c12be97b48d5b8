"""A server's start-up imports only what every server needs: an embedded `nano-modal run`
waits for it. Followers' HTTP proxy (httpx, websockets), the metrics (prometheus_client),
the dashboard's templates (jinja2) and migrations (alembic) load when first used."""

from __future__ import annotations

import subprocess
import sys

LOADED_LATER = ["alembic", "httpx", "websockets", "prometheus_client", "jinja2"]


def test_importing_the_server_leaves_the_rest_for_later() -> None:
    script = f"import sys, nano_modal.server.main; print([m for m in {LOADED_LATER!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
