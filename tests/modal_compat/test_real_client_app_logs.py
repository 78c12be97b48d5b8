"""`modal app logs APP` (stored lines: Modal's AppFetchLogs, and AppCountLogs with --since)
with the real client against nano-modal. It answered "does not serve ModalClient/AppFetchLogs"."""

from __future__ import annotations

from pathlib import Path

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

LOGGING_APP = """
import sys
import modal

app = modal.App("nano-compat-app-logs")


@app.function()
def chatty(x: int) -> int:
    print(f"out line {x}", flush=True)
    print(f"err line {x}", file=sys.stderr, flush=True)
    return x
"""

CALLER = """
import modal

f = modal.Function.from_name("nano-compat-app-logs", "chatty")
print([f.remote(i) for i in (1, 2, 3)])
"""


def _logs(modal_cluster: ModalCluster, tmp_path: Path, *args: str) -> str:
    shown = modal_cluster.modal("app", "logs", "nano-compat-app-logs", *args, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return shown.stdout + shown.stderr


def test_modal_app_logs_shows_stored_lines_with_filters(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, LOGGING_APP)
    deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    (tmp_path / "caller.py").write_text(CALLER)
    call = modal_cluster.python("caller.py", cwd=tmp_path)
    assert call.returncode == 0, call.stdout + call.stderr

    everything = _logs(modal_cluster, tmp_path)
    for x in (1, 2, 3):
        assert f"out line {x}" in everything and f"err line {x}" in everything, everything
    assert everything.index("out line 1") < everything.index("out line 2") < everything.index("out line 3")

    stderr_only = _logs(modal_cluster, tmp_path, "--source", "stderr")
    assert "err line 2" in stderr_only and "out line" not in stderr_only, stderr_only

    assert _logs(modal_cluster, tmp_path, "--tail", "1").count("line") == 1  # the newest line only
    searched = _logs(modal_cluster, tmp_path, "--search", "line 3")
    assert "out line 3" in searched and "line 1" not in searched, searched

    windowed = _logs(modal_cluster, tmp_path, "--since", "1h")  # counts per bucket, then fetches
    assert "out line 1" in windowed and "err line 3" in windowed, windowed
