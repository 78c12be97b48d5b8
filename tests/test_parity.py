"""The parity tool: nano_modal's API measured against the pinned `modal` release from PyPI.

The first run installs modal into a cached scratch venv (network to PyPI); later runs need none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "parity"


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(TOOL / "parity.py"), *args], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def test_coverage_does_not_drop_below_the_recorded_floor() -> None:
    report = json.loads(run_tool("--json").stdout)
    floor = float((TOOL / "floor.txt").read_text())
    assert report["coverage"] >= floor, f"coverage {report['coverage']}% < floor {floor}%; missing: {report['missing']}"
    # Every exclusion still names something modal has: a stale one hides nothing but misleads.
    assert report["unused_exclusions"] == []


def test_the_behaviours_this_port_promises_are_in_the_surface() -> None:
    missing = set(json.loads(run_tool("--json").stdout)["missing"])
    promised = {
        "Error",
        "enable_output",
        "FunctionCall.gather",
        "FunctionCall.iter",
        "Function.with_options",
        "Function.with_concurrency",
        "Function.with_batching",
        "Function.get_current_stats",
        "Function.update_autoscaler",
        "App.include",
        "App.registered_functions",
        "App.function(env)",
        "App.function(region)",
        "App.cls(enable_memory_snapshot)",
        "Volume.from_name(version)",
        "Secret.update",
        "Sandbox.wait_until_ready",
        "App.server(port)",
        "Server.get_url",
        "Server.from_name",
        "Server.update_autoscaler(min_containers)",
        "Server.sessions",
        "sessioned",
    }
    assert not promised & missing, sorted(promised & missing)
