"""overlayfs mounts (as root) and running a build command inside an image's root filesystem.

Build steps run with bwrap as the worker's root user without a user namespace: apt and
dpkg need real ownership changes and setuid helpers. They get the network, the host's DNS
configuration and a clean environment; isolation here protects the host from mistakes,
not from hostile image definitions (builds run what the function's author wrote).
"""

from __future__ import annotations

import collections
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from ...exception import InvalidError
from .step_limits import LimitExceeded, StepLimits, check, deadline, limited

MOUNT_OPTIONS_MAX = 4000  # the kernel reads mount options from one page
HOST_RESOLV_CONF = "/etc/resolv.conf"  # the worker's resolver settings, which build steps use


def mount_overlay(lowers: list[Path], merged: Path, upper: Path | None = None, work: Path | None = None) -> None:
    """Mount `lowers` (top first) at `merged`; writable into `upper` if given."""
    options = "lowerdir=" + ":".join(str(p) for p in lowers)
    if upper is not None and work is not None:
        options += f",upperdir={upper},workdir={work}"
    if len(options) > MOUNT_OPTIONS_MAX:
        raise InvalidError(f"the image has too many layers ({len(lowers)}) to stack: merge some steps")
    merged.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"mounting the image's layers failed: {result.stderr.strip()}")


def unmount(merged: Path) -> None:
    subprocess.run(["umount", "--lazy", str(merged)], capture_output=True, check=False)


def run_in_root(
    root: Path,
    command: str,
    env: dict[str, str],
    cwd: str,
    log: Callable[[str], None],
    tail_lines: int,
    binds: list[tuple[Path, str]] | None = None,
    writable: list[tuple[Path, str]] | None = None,
    limits: StepLimits | None = None,
) -> tuple[int, list[str]]:
    """Run `sh -c command` with `root` as /, streaming output to `log`; (exit code, last lines).
    `binds` are read-only inside, `writable` (a run_function's volumes) read-write. `limits`
    (run_function's cpu, memory, timeout): LimitExceeded when one ended the command."""
    from ..bwrap import bwrap_binary  # bwrap.py imports the image modules
    from ..bwrap_check import INSTALL

    bwrap = bwrap_binary()
    if bwrap is None:
        raise RuntimeError(f"building images needs bubblewrap: {INSTALL}")
    (root / cwd.lstrip("/")).mkdir(parents=True, exist_ok=True)
    argv = [bwrap, "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    # Names resolve as on the worker, whether or not the image has a resolv.conf of its own; a
    # mount point made for that here is removed again below (it is no part of the layer).
    resolv = root / "etc/resolv.conf"
    made_mount_point = not resolv.exists() and not resolv.is_symlink() and os.path.exists(HOST_RESOLV_CONF)
    if made_mount_point:
        resolv.parent.mkdir(parents=True, exist_ok=True)
        resolv.touch()
    if resolv.exists() and os.path.exists(HOST_RESOLV_CONF):
        argv += ["--ro-bind", HOST_RESOLV_CONF, "/etc/resolv.conf"]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "nano-modal-build"]
    for source, dest in binds or []:
        argv += ["--ro-bind", str(source), dest]
    for source, dest in writable or []:
        argv += ["--bind", str(source), dest]
    argv += ["--die-with-parent", "--new-session", "--clearenv", "--chdir", cwd]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--", "/bin/sh", "-c", command]
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    limits = limits or StepLimits()
    try:
        with limited(argv, limits) as (argv, cgroup):
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            assert proc.stdout is not None
            with deadline(proc, limits.timeout) as expired:
                for raw in proc.stdout:
                    line = raw.decode(errors="replace").rstrip("\n")
                    tail.append(line)
                    log(line)
                code = proc.wait()
            try:
                check(limits, expired, cgroup, code)
            except LimitExceeded as exc:
                exc.tail = list(tail)
                raise
        return code, list(tail)
    finally:
        if made_mount_point and resolv.is_file() and resolv.stat().st_size == 0:
            resolv.unlink()
