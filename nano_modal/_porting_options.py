"""Options of Modal's decorators and `with_options` that mean something only on Modal's cloud,
or that nano-modal maps onto its own: one place decides what each becomes.

Cloud-only options (regions, clouds, memory snapshots, warm buffers...) are accepted, so that a
Modal program ports unchanged, and ignored with a one-line note on stderr, once per option."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from .exception import InvalidError

# Option -> why nano-modal ignores it. Each is printed once per process when a program sets it.
CLOUD_ONLY = {
    "region": "regions are Modal's cloud; a self-hosted cluster runs where its workers are",
    "cloud": "cloud providers are Modal's; a self-hosted cluster runs where its workers are",
    "routing_region": "input routing regions are Modal's cloud",
    "compute_region": "regions are Modal's cloud",
    "buffer_containers": "warm buffers are Modal's autoscaler; use min_containers",
    "enable_memory_snapshot": "memory snapshots are Modal's; nano-modal boots containers ahead of need instead",
    "nonpreemptible": "every nano-modal worker is non-preemptible",
    "ephemeral_disk": "containers write to the worker's disk",
    "startup_timeout": "a container's start-up counts toward its function's timeout",
    "experimental_options": "Modal's experimental scheduler options",
    "include_source": "nano-modal always ships the module that defines the function",
    "use_firewall": "Modal's per-workspace firewall",
    "h2_enabled": "Modal's HTTP/2 edge",
}
_noted: set[str] = set()


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value != {} and value != [] and value != ()


def note_ignored(where: str, given: Mapping[str, Any]) -> None:
    """Print a one-line note for each cloud-only option set (first time only)."""
    for name, value in given.items():
        if _is_set(value) and name not in _noted:
            _noted.add(name)
            print(f"nano-modal: {where}({name}=...) ignored: {CLOUD_ONLY[name]}", file=sys.stderr)


def env_secrets(env: Mapping[str, str | None] | None) -> list[Any]:
    """`env={...}`: environment variables for the containers, sent as an in-code secret (as Modal does)."""
    if not env:
        return []
    from .secret import Secret

    return [Secret.from_dict(env)]


def refuse_network_file_systems(network_file_systems: Mapping[str, Any] | None, where: str) -> None:
    if network_file_systems:
        raise InvalidError(
            f"{where}: network_file_systems= is not supported (Modal deprecated NetworkFileSystem); use volumes="
        )
