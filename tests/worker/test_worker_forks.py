"""The worker's forked children survive beside its gRPC threads (worker/__init__.py).

gRPC's fork support ran its handlers in every child the worker forked (runsc's launcher with its
preexec_fn, `unshare` as a container's uid range); about 1 in 60 died of SIGSEGV or SIGABRT
before its exec, and a gVisor sandbox then never started (its agent never dialed in: CI saw an
exec's output, or a sandbox's first line, missing). The worker turns that support off before
gRPC loads, and a worker started by the CLI (which loads gRPC first) starts itself afresh."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import stop

# As a user's shell would start them: not with what this test process (which may have imported
# the worker's package already) set for itself.
FRESH_ENV = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}

# As `python -m nano_modal.worker` starts: the worker's package, then gRPC. gRPC's threads kept
# busy while the process forks children that run Python before their exec (a preexec_fn).
FORKS = """
import collections, subprocess, sys, threading
import nano_modal.worker
import grpc

channel = grpc.insecure_channel("127.0.0.1:1")

def busy():
    while True:
        try:
            grpc.channel_ready_future(channel).result(timeout=0.01)
        except Exception:
            pass

for _ in range(4):
    threading.Thread(target=busy, daemon=True).start()
codes = collections.Counter(
    subprocess.run(["/bin/true"], preexec_fn=lambda: None).returncode for _ in range(int(sys.argv[1]))
)
print(dict(codes))
"""

FORKS_TRIED = 400  # before the fix: ~7 children killed and a gRPC fork-handler line per fork


def test_the_workers_forked_children_live_to_their_exec(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", FORKS, str(FORKS_TRIED)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=FRESH_ENV,
    )
    assert run.stdout.strip() == f"{{0: {FORKS_TRIED}}}", run.stdout + run.stderr[-2000:]
    # gRPC's fork handlers say when they run beside busy threads: they must not run at all.
    assert "fork()" not in run.stderr, run.stderr[-2000:]


def test_a_worker_started_by_the_cli_runs_without_grpcs_fork_support(tmp_path: Path) -> None:
    """`nano-modal worker` (systemd's ExecStart) imports gRPC before the worker: it execs
    `python -m nano_modal.worker` with the same arguments, its fork support off from the start."""
    log = (tmp_path / "worker.log").open("ab")
    argv = [sys.executable, "-m", "nano_modal", "worker", "--server", "127.0.0.1:1", "--token", "t"]
    proc = subprocess.Popen([*argv, "--runtime", "process"], stdout=log, stderr=subprocess.STDOUT, env=FRESH_ENV)
    try:
        cmdline: list[str] = []
        deadline = time.monotonic() + 60
        while "nano_modal.worker" not in cmdline and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_text().split("\0")
        environ = Path(f"/proc/{proc.pid}/environ").read_text().split("\0")
    finally:
        stop(proc)
    assert cmdline[1:3] == ["-m", "nano_modal.worker"], (cmdline, (tmp_path / "worker.log").read_text())
    assert cmdline[3:] == ["--server", "127.0.0.1:1", "--token", "t", "--runtime", "process", ""]
    assert "GRPC_ENABLE_FORK_SUPPORT=false" in environ
