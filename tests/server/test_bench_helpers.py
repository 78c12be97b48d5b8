"""bench/_common.py tells container processes apart from their wrappers by command line."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bench import _common
from nano_modal.worker.base import ENTRYPOINT_ARGS


@pytest.fixture
def sleeper_like_a_container() -> Iterator[subprocess.Popen[bytes]]:
    """A Python process whose argv is the worker's container entrypoint's (it only sleeps: the
    `-c` text is replaced, the argv shape is what the helper reads)."""
    args = [sys.executable, *ENTRYPOINT_ARGS[:-1], "import time; time.sleep(60)  # nano_modal.container"]
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 30
    while b"nano_modal.container" not in _read_cmdline(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def _read_cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def test_a_container_started_with_dash_c_counts_as_a_container(
    sleeper_like_a_container: subprocess.Popen[bytes],
) -> None:
    assert _common.is_container(sleeper_like_a_container.pid)
    assert _common._role(sleeper_like_a_container.pid) == "nano container"


def test_the_wrapper_naming_it_is_not_a_container() -> None:
    wrapper = subprocess.Popen(["/bin/sh", "-c", "sleep 60", "nano_modal.container"])
    try:
        deadline = time.monotonic() + 30
        while b"nano_modal.container" not in _read_cmdline(wrapper.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _common.is_container(wrapper.pid)
    finally:
        wrapper.kill()
        wrapper.wait()
