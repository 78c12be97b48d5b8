"""A sandbox terminated while its container is still starting (its image building) ends.

The worker used to drop a stop for a container it had not finished starting: the sandbox then
ran its command anyway, to its timeout, and `wait()` hung (found with the real client's
`Sandbox.create(...); sb.terminate(); sb.wait()`, which never returned).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

from tests.conftest import Cluster
from tests.helpers import run_script
from tests.worker._drive import require

DRIVER = """
import json, sys, time
import nano_modal

marker = sys.argv[1]
app = nano_modal.App("stop-while-starting")
# A step of its own (the marker) so that the image is built now, for a few seconds.
image = nano_modal.Image.debian_slim().run_commands(f"sleep 4 && echo {marker} > /built")
with app.run(show_logs=False):
    sb = nano_modal.Sandbox.create("bash", "-c", f"sleep 600; echo {marker}", image=image, app=app, timeout=900)
    sb.terminate()
    t0 = time.monotonic()
    sb.wait(raise_on_termination=False)
    print("RESULT " + json.dumps({"returncode": sb.returncode, "waited": time.monotonic() - t0}))
"""


def _sleepers(marker: str) -> list[str]:
    """The host's processes running the sandbox's command."""
    return subprocess.run(["pgrep", "-af", f"sleep 600; echo {marker}"], capture_output=True, text=True).stdout.split()


def test_a_sandbox_terminated_while_its_image_builds_ends(isolated_cluster: object, tmp_path: Path) -> None:
    require("bwrap")
    cluster: Cluster = isolated_cluster("bwrap")  # type: ignore[operator]
    marker = secrets.token_hex(4)
    assert _sleepers(marker) == []  # the host before: no such process

    result = run_script(tmp_path, DRIVER, marker, env=cluster.env(), timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert out["returncode"] == 137  # terminated, as Modal reports it
    assert _sleepers(marker) == []  # and the host after: its command is not running
