"""Every example runs, as a user would run it, on the embedded default (no server set up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_embedded(args: list[str], home: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NANO_MODAL_SERVER_URL", "NANO_MODAL_TOKEN")}
    env["NANO_MODAL_HOME"] = str(home)
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=EXAMPLES.parent)
    assert result.returncode == 0, f"{args} failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def nano_modal_run(example: str, home: Path, *args: str) -> str:
    cli = [sys.executable, "-m", "nano_modal.cli", "run", str(EXAMPLES / example), *args]
    return run_embedded(cli, home).stdout


def test_hello_world(tmp_path: Path) -> None:
    out = nano_modal_run("hello_world.py", tmp_path, "--n", "5")
    assert "square(7) = 49" in out
    assert "sum of squares below 5 = 30" in out
    # What the function printed reaches the caller, marked with where it came from.
    assert "[square " in out and "in a container (local=False)" in out
    # The embedded server and worker are gone, and so is their per-run state.
    assert not any((tmp_path / "embedded").iterdir())


def test_quickstart_seed_as_plain_script(tmp_path: Path) -> None:
    out = run_embedded([sys.executable, str(EXAMPLES / "quickstart_seed.py")], tmp_path).stdout
    lines = [line for line in out.splitlines() if not line.startswith("[fetch ")]
    assert lines[0] == "1263"
    assert lines[1] == str([1263] * 10)


def test_parallel_map(tmp_path: Path) -> None:
    out = nano_modal_run("parallel_map.py", tmp_path, "--n", "2000")
    assert f"sum of cubes below 2000: {sum(x**3 for x in range(2000))}" in out
    assert "powers: [1024, 81, 1000]" in out
    assert "with return_exceptions: [1.0, 'ZeroDivisionError', 0.25]" in out
    assert "for_each done" in out


def test_spawn_and_poll(tmp_path: Path) -> None:
    out = nano_modal_run("spawn_and_poll.py", tmp_path)
    for expected in ("not ready yet", "result: 5", "cancelled", "spawn_map: [0, 2, 4, 6, 8]"):
        assert expected in out


def test_streaming_and_async(tmp_path: Path) -> None:
    out = nano_modal_run("streaming_and_async.py", tmp_path)
    got = [line for line in out.splitlines() if line.startswith("got ")]
    assert [line.split()[1] for line in got] == ["3", "2", "1"]
    for expected in ("await remote.aio: HELLO", "async map: ['A', 'B', 'C']", "spawn.aio + get.aio: LATER"):
        assert expected in out


def test_errors_and_retries(tmp_path: Path) -> None:
    out = nano_modal_run("errors_and_retries.py", tmp_path)
    assert "ValueError came back: invalid literal" in out
    assert "succeeded on attempt 3" in out
    assert "timeout: too_slow timed out after 1s" in out
    assert "crash: the container running crash exited with code 3" in out


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["version"], ["token", "--help"]])
def test_cli_help(args: list[str], tmp_path: Path) -> None:
    out = run_embedded([sys.executable, "-m", "nano_modal.cli", *args], tmp_path).stdout
    assert "nano-modal" in out or "Usage" in out
