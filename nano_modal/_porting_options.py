"""Options of Modal's decorators and `with_options` that mean something only on Modal's cloud,
or that nano-modal maps onto its own: one place decides what each becomes.

Cloud-only options (regions, clouds, memory snapshots, warm buffers...) are accepted, so that a
Modal program ports unchanged, and ignored with a one-line note on stderr, once per option."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .exception import InvalidError
from .proto import api_pb2

# Option -> why nano-modal ignores it. Each is printed once per process when a program sets it.
CLOUD_ONLY = {
    "region": "regions are Modal's cloud; a self-hosted cluster runs where its workers are",
    "cloud": "cloud providers are Modal's; a self-hosted cluster runs where its workers are",
    "routing_region": "input routing regions are Modal's cloud",
    "compute_region": "regions are Modal's cloud",
    "buffer_containers": "warm buffers are Modal's autoscaler; use min_containers",
    "enable_memory_snapshot": "memory snapshots are Modal's; nano-modal boots containers ahead of need instead",
    "nonpreemptible": "every nano-modal worker is non-preemptible",
    "startup_timeout": "a container's start-up counts toward its function's timeout",
    "experimental_options": "Modal's experimental scheduler options",
    "include_source": "nano-modal always ships the module that defines the function",
    "use_firewall": "Modal's per-workspace firewall",
    "h2_enabled": "Modal's HTTP/2 edge",
    "scaleup_window": "nano-modal starts a container as soon as requests wait for one",
    "exit_grace_period": "containers stop when idle past scaledown_window or when their app stops; @exit runs then",
    "build_gpu": "image build steps run on the worker without a GPU (functions get theirs when they run)",
}
_noted: set[str] = set()


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value != {} and value != [] and value != ()


def note_ignored(where: str, given: Mapping[str, Any]) -> None:
    """Print a one-line note for each cloud-only option set (first time only; on the client:
    a container importing the program would repeat it in every container's log)."""
    from .config import is_remote

    if is_remote():
        return
    for name, value in given.items():
        if _is_set(value) and name not in _noted:
            _noted.add(name)
            shown = name.removeprefix("build_")  # build_gpu: the gpu= of an image build step
            print(f"nano-modal: {where}({shown}=...) ignored: {CLOUD_ONLY[name]}", file=sys.stderr)


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


def option_overrides(
    where: str,
    *,
    cpu: float | None = None,
    memory: int | None = None,
    gpu: str | list[str] | None = None,
    env: Mapping[str, str | None] | None = None,
    secrets: Sequence[Any] | None = None,
    volumes: Mapping[str, Any] | None = None,
    retries: Any = None,
    max_containers: int | None = None,
    min_containers: int | None = None,
    scaledown_window: float | None = None,
    timeout: float | None = None,
    cloud_only: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What `with_options(...)` changes, by FunctionDefinition field ("secrets" and "volumes" are
    resolved when the handle is first used: see apply_overrides)."""
    from . import _gpu
    from .retries import Retries
    from .secret import validate_secrets
    from .volume import validate_mounts

    note_ignored(where, cloud_only or {})
    given = {
        "cpu": cpu,
        "memory_mb": memory,
        "max_containers": max_containers,
        "min_containers": min_containers,
        "scaledown_window": scaledown_window,
        "timeout": timeout,
    }
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if gpu is not None:
        overrides["gpu"] = _gpu.normalize(gpu)
    if retries is not None:
        overrides["retries"] = Retries.coerce(retries).to_proto()
    added_secrets = (*(secrets or ()), *env_secrets(env))
    if added_secrets:
        validate_secrets(added_secrets, where)
        overrides["secrets"] = added_secrets
    if volumes:
        validate_mounts(dict(volumes), where)
        overrides["volumes"] = dict(volumes)
    return overrides


async def apply_overrides(definition: api_pb2.FunctionDefinition, overrides: Mapping[str, Any]) -> None:
    """Change a copy of a function's definition as `with_options` asked."""
    from .cloud_bucket_mount import resolve_bucket_mounts
    from .secret import resolve_secrets
    from .volume import resolve_mounts

    for field_name, value in overrides.items():
        if field_name == "retries":
            definition.retries.CopyFrom(value)
        elif field_name == "secrets":
            definition.secret_ids.extend(await resolve_secrets(value))
        elif field_name == "volumes":  # Volumes and CloudBucketMounts: a path given replaces either
            mounts = await resolve_mounts(value)
            buckets = await resolve_bucket_mounts(value)
            replaced = {mount.mount_path for mount in mounts} | {bucket.mount_path for bucket in buckets}
            kept = [mount for mount in definition.volume_mounts if mount.mount_path not in replaced]
            kept_buckets = [mount for mount in definition.cloud_bucket_mounts if mount.mount_path not in replaced]
            del definition.volume_mounts[:]
            del definition.cloud_bucket_mounts[:]
            definition.volume_mounts.extend([*kept, *mounts])
            definition.cloud_bucket_mounts.extend([*kept_buckets, *buckets])
        else:
            setattr(definition, field_name, value)
