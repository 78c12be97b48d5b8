"""`nano-modal worker --env NAME=VALUE`: set in every container of that worker, under the
function's own environment (its secrets win), as an image's ENV is in Modal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nano_modal.worker.main import build_parser
from tests.conftest import Cluster

APP = """
import os
import nano_modal

app = nano_modal.App("worker-env")


@app.function(secrets=[nano_modal.Secret.from_dict({"NM_TEST_BOTH": "from-the-secret"})])
def read() -> str:
    return os.environ.get("NM_TEST_WORKER", "-") + " " + os.environ.get("NM_TEST_BOTH", "-")


if __name__ == "__main__":
    with app.run():
        print(read.remote())
"""


def test_worker_env_reaches_containers_under_the_functions_own(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = isolated_cluster(
        "process", "--env", "NM_TEST_WORKER=from-the-worker", "--env", "NM_TEST_BOTH=from-the-worker"
    )
    (tmp_path / "app.py").write_text(APP)
    run = subprocess.run(
        [sys.executable, "app.py"], cwd=tmp_path, env=cluster.env(), capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "from-the-worker from-the-secret"


@pytest.mark.parametrize("value", ["NO_EQUALS_SIGN", "=value", "1X=y", "A-B=c"])
def test_a_bad_env_is_a_one_line_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--env", value])
    assert f"{value!r} is not NAME=VALUE" in capsys.readouterr().err
