"""Function.get_current_stats() and Sandbox._experimental_stats() with the real client from PyPI
(modal_compat/functions.py, sandboxes.py): examples/modal_client_stats.py under `modal run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; `modal run` starts containers")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_stats.py"


def test_stats_example_with_modal_run(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    for line in (
        "square: 49",
        "backlog: 0",
        "runners: 1",  # the container that ran the call, kept by its scaledown window
        "headroom: 1",  # it takes one input at a time and holds none
        "sandbox ran: True",
        "sandbox cpu-seconds: True",
        "sandbox cost: None",
    ):
        assert line in run.stdout.splitlines(), out
