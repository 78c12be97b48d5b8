"""`nano-modal container list/logs/exec/stop` and `nano-modal shell`, run as a user would."""

from __future__ import annotations

import concurrent.futures
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nano_modal
from tests.conftest import Cluster

app = nano_modal.App("container-cli-tests")


def cli(cluster: Cluster, *args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nano_modal.cli", *args],
        env=cluster.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def sandbox(cluster: Cluster) -> Iterator[nano_modal.Sandbox]:
    with app.run(show_logs=False):
        sb = nano_modal.Sandbox.create("bash", "-c", "echo entrypoint says hi; sleep 600", app=app, name="cli-sb")
        yield sb
        sb.terminate()


def test_list_shows_sandboxes_and_function_containers(cluster: Cluster, sandbox: Any, core_app: Any) -> None:
    core_app.square.remote(3)  # a warm function container
    out = cli(cluster, "container", "list").stdout
    row = next(line for line in out.splitlines() if sandbox.object_id in line)
    assert "container-cli-tests" in row and "sandbox cli-sb" in row
    assert any(" square " in line and "ta-" in line for line in out.splitlines()), out


def test_exec_with_piped_stdin_and_exit_code(cluster: Cluster, sandbox: nano_modal.Sandbox) -> None:
    result = cli(cluster, "container", "exec", sandbox.object_id, "--", "bash", "-c", "wc -c; exit 4", stdin="12345")
    assert result.returncode == 4, result.stderr
    assert result.stdout.strip() == "5"


def test_exec_into_a_function_container(cluster: Cluster, core_app: Any) -> None:
    core_app.square.remote(4)
    out = cli(cluster, "container", "list").stdout
    # A container of an earlier test may still be listed while it stops: exec into a running one.
    running = [line for line in out.splitlines() if " square " in line and " running " in line]
    container_id = re.findall(r"ta-[0-9a-f]+", running[0])[0]
    result = cli(cluster, "container", "exec", container_id, "--", "bash", "-c", "echo $NANO_MODAL_CONTAINER_ID")
    assert (result.returncode, result.stdout) == (0, container_id + "\n"), result.stderr
    assert core_app.square.remote(5) == 25  # it still serves


def test_logs_show_the_entrypoint_output(cluster: Cluster, sandbox: nano_modal.Sandbox) -> None:
    deadline = time.monotonic() + 30
    while "entrypoint says hi" not in (out := cli(cluster, "container", "logs", sandbox.object_id).stdout):
        assert time.monotonic() < deadline, out
        time.sleep(0.2)


def test_bad_ids_are_named(cluster: Cluster) -> None:
    result = cli(cluster, "container", "exec", "sb-missing", "--", "true")
    assert result.returncode == 1 and "sb-missing not found" in result.stdout
    assert "sb-missing" in cli(cluster, "container", "stop", "sb-missing").stdout


def test_stop_terminates_a_sandbox(cluster: Cluster) -> None:
    with app.run(show_logs=False):
        sb = nano_modal.Sandbox.create(app=app)
        assert cli(cluster, "container", "stop", sb.object_id).returncode == 0
        sb.wait(raise_on_termination=False)
        assert sb.returncode == 137


stop_app = nano_modal.App("container-stop-tests")


@stop_app.function()
def slow_square(x: int, marks: str) -> int:
    if x == 1 and not Path(marks, "stopped").exists():  # the first attempt at 1 waits to be stopped
        Path(marks, "running").write_text(os.environ["NANO_MODAL_CONTAINER_ID"])
        time.sleep(120)
    return x * x


def test_a_function_container_stopped_mid_input_runs_it_again(cluster: Cluster, tmp_path: Path) -> None:
    """The server stopping a container (here `container stop`, the path a scale-down or an
    eviction takes) is not the input's failure: the input it was running runs again elsewhere
    (it failed: "the container ... exited with code 0 (stopped by the server)")."""
    with stop_app.run(show_logs=False), concurrent.futures.ThreadPoolExecutor(1) as pool:
        mapped = pool.submit(lambda: list(slow_square.starmap([(x, str(tmp_path)) for x in range(3)])))
        running = tmp_path / "running"
        deadline = time.monotonic() + 120
        while not running.exists():
            assert time.monotonic() < deadline and not mapped.done(), "input 1 never started"
            time.sleep(0.1)
        (tmp_path / "stopped").write_text("")  # its next attempt returns at once
        assert cli(cluster, "container", "stop", running.read_text()).returncode == 0
        assert mapped.result(timeout=120) == [0, 1, 4]


SHELL_APP = """
import nano_modal

app = nano_modal.App("shell-test")


@app.function(secrets=[nano_modal.Secret.from_dict({"SHELL_SECRET": "opensesame"})], cpu=0.5)
def fn() -> None:
    pass
"""


def test_shell_cmd_has_the_functions_secrets(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "shell_app.py").write_text(SHELL_APP)
    result = cli(cluster, "shell", "shell_app.py::fn", "--cmd", "echo $SHELL_SECRET; exit 3", cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.strip() == "opensesame"


def test_interactive_shell_through_a_pty(cluster: Cluster) -> None:
    # A terminal user typing `nano-modal shell` (Popen on a pty pair: forking this gRPC process is unsafe).
    fd, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nano_modal.cli", "shell"],
        env=cluster.env(), stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
    )  # fmt: skip
    os.close(terminal)
    seen = b""

    def read_until(token: bytes) -> bool:
        nonlocal seen
        deadline = time.monotonic() + 60
        while token not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.5)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        return token in seen

    try:
        assert read_until(b"# ") or read_until(b"$ "), seen
        os.write(fd, b"echo $((6*7)); tty\n")
        assert read_until(b"42"), seen
        assert read_until(b"/dev/pts/"), seen  # it has a terminal
        os.write(fd, b"exit 5\n")
        assert proc.wait(60) == 5, seen
    finally:
        proc.kill()
        os.close(fd)
