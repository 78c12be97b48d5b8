"""overlayfs mounts (as root) and running a build command inside an image's root filesystem.

Build steps run with bwrap as the worker's root user without a user namespace: apt and
dpkg need real ownership changes and setuid helpers. They get the network, the host's DNS
configuration and a clean environment; isolation here protects the host from mistakes,
not from hostile image definitions (builds run what the function's author wrote).
"""

from __future__ import annotations

import collections
import subprocess
from collections.abc import Callable
from pathlib import Path

from ...exception import InvalidError

MOUNT_OPTIONS_MAX = 4000  # the kernel reads mount options from one page


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
) -> tuple[int, list[str]]:
    """Run `sh -c command` with `root` as /, streaming output to `log`; (exit code, last lines).
    `binds` are read-only inside, `writable` (a run_function's volumes) read-write."""
    from ..bwrap import INSTALL_BWRAP, bwrap_binary  # bwrap.py imports the image modules

    bwrap = bwrap_binary()
    if bwrap is None:
        raise RuntimeError(f"building images needs bubblewrap ({INSTALL_BWRAP})")
    (root / cwd.lstrip("/")).mkdir(parents=True, exist_ok=True)
    argv = [bwrap, "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    argv += ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"] if (root / "etc/resolv.conf").exists() else []
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
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        tail.append(line)
        log(line)
    return proc.wait(), list(tail)
