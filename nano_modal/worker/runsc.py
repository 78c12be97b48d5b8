"""Which `runsc` the gvisor runtime runs, and what that build can do.

Debian 12's runsc (0.0~20221219) cannot give a sandbox a network of its own on recent
kernels, and Debian 13's (0.0~20240729) can. The newest of these wins:
- `NANO_MODAL_RUNSC` (a path), when set: nothing else is looked at;
- runsc builds unpacked under RUNSC_CACHE (`~/.cache/nano-modal/runsc/<version>/runsc`,
  where scripts/test.sh puts Debian 13's on a Debian 12 host);
- the `runsc` on PATH.

`--network=sandbox` (gVisor's own network stack on the interfaces of a namespace the worker
prepared, network.py) needs SANDBOX_NETWORK_SINCE or later: older builds run with
`--network=none` (the server through the relay only), and the worker says so once.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

log = logging.getLogger("nano_modal.worker")

ENV_RUNSC = "NANO_MODAL_RUNSC"
RUNSC_CACHE = Path.home() / ".cache" / "nano-modal" / "runsc"
VERSION_TIMEOUT = 10.0  # seconds `runsc --version` may take (a static Go binary: ~10 ms)
# The first build measured to start a sandbox with --network=sandbox in a prepared namespace
# (Debian 13's 0.0~20240729.0; Debian 12's 0.0~20221219.0 cannot, see network_check_mask()).
SANDBOX_NETWORK_SINCE = 20240729
UID_MAPPINGS_SINCE = 20240729  # measured like the network: Debian 13's build
# runsc up to release-20240801 tells "the host's root network namespace" by
# /proc/sys/net/core/rmem_default existing, which on Linux 6.x it does in every namespace:
# it refuses --network=sandbox in the namespace the worker made ("cannot run with network
# enabled in root network namespace"). Later releases look for dev_weight (root-only) instead.
# The worker makes the namespace itself (never the host's), so runsc runs where that check
# finds nothing: in a mount namespace of its own with /proc/sys/net covered by an empty tmpfs.
NETWORK_CHECK_FIXED_SINCE = 20240802
_CLONE_NEWNS, _MS_RDONLY, _MS_REC, _MS_PRIVATE = 0x00020000, 0x1, 0x4000, 0x40000
_VERSION = re.compile(r"runsc version (?:release-|0\.0~)(\d{8})")


@cache
def version(binary: str) -> int:
    """runsc's build date as YYYYMMDD (`0.0~20240729.0` and `release-20240801.0` alike); 0 if unknown."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    found = _VERSION.search(out)
    return int(found.group(1)) if found else 0


def candidates() -> list[str]:
    """Every runsc this host has for the worker: the cache's builds and the one on PATH."""
    found = [str(path) for path in sorted(RUNSC_CACHE.glob("*/runsc")) if os.access(path, os.X_OK)]
    on_path = shutil.which("runsc")
    if on_path is not None:
        found.append(on_path)
    return found


def binary() -> str | None:
    """The runsc the worker runs: NANO_MODAL_RUNSC, else the newest build found."""
    chosen = os.environ.get(ENV_RUNSC)
    if chosen:
        return chosen
    found = candidates()
    return max(found, key=version) if found else None


def sandbox_network(runsc: str) -> bool:
    """Whether this runsc can run a sandbox on the interfaces of a prepared network namespace."""
    return version(runsc) >= SANDBOX_NETWORK_SINCE


def uid_mappings(runsc: str) -> bool:
    """Whether this runsc takes the spec's uid mappings (its gofer then works as the container's
    host range, not as host root). Debian 12's starts with them but fails to list directories."""
    return version(runsc) >= UID_MAPPINGS_SINCE


def network_check_mask(runsc: str) -> Callable[[], None] | None:
    """What runs in runsc's process before its exec (a subprocess preexec_fn) to hide the
    host's-namespace check's file from it (above); None for a build that checks another file.
    A function rather than `unshare ... sh -c 'mount ...'`: three execs fewer per start."""
    if version(runsc) >= NETWORK_CHECK_FIXED_SINCE:
        return None
    _libc()
    return _hide_network_check


@cache
def _libc() -> ctypes.CDLL:
    """Loaded in the worker, never in a forked child: dlopen there could wait on a loader lock
    another of the worker's threads held at the fork."""
    return ctypes.CDLL(None, use_errno=True)


def _hide_network_check() -> None:
    """In the child, before its exec: a mount namespace of its own, private (nothing mounted in
    it reaches the host's), with an empty read-only tmpfs over /proc/sys/net."""
    libc = _libc()
    steps: tuple[tuple[str, Callable[[], int]], ...] = (
        ("unshare(CLONE_NEWNS)", lambda: libc.unshare(_CLONE_NEWNS)),
        ("making mounts private", lambda: libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None)),
        ("covering /proc/sys/net", lambda: libc.mount(b"nano-modal", b"/proc/sys/net", b"tmpfs", _MS_RDONLY, None)),
    )
    for what, step in steps:
        if step() != 0:
            os.write(2, f"nano-modal: {what} for runsc failed: {os.strerror(ctypes.get_errno())}\n".encode())
            os._exit(126)
