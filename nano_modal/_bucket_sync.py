"""CloudBucketMounts on the worker: a bucket's objects copied into a directory the container
sees at its mount path, and the container's changes copied back when it exits.

Modal mounts buckets with FUSE (mountpoint-s3). Here the copy is done by the worker, with
boto3, for every runtime alike (bwrap, gVisor, process) and for images that lack boto3:

* the server resolves the mount's secret into the container spec's environment
  (ENV_BUCKETS, `server_entry`); the worker takes the credentials out of it before the
  container starts (`take_buckets`), so the container's environment never holds them;
* before the container starts, every object under `key_prefix` is downloaded into a
  directory under the container's workdir (`download`), bound at the mount path like a volume's
  directory (_volume_sync.runtime_binds), or linked there for the `process` runtime;
* when the container has exited, files that are new or whose size or mtime changed are
  uploaded, and objects whose files were deleted are deleted (`upload`); a read_only mount is
  never uploaded (its files are also made read-only, which root in a container can undo).

So writes become visible in the bucket when the container exits, and objects written by
others after the container started are not seen by it. Objects whose keys would leave the
mount's directory ("..", absolute) are skipped; so are links the container leaves there.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from .proto import api_pb2

# Variables of a mount's secret the worker uses; the rest of the secret stays on the server.
# AWS's names, or the HMAC key names Google Cloud Storage's documentation (and Modal) use.
CREDENTIAL_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "GOOGLE_ACCESS_KEY_ID",
    "GOOGLE_ACCESS_KEY_SECRET",
)
# Where a bucket's signing region cannot be told (S3-compatible servers mostly ignore it).
DEFAULT_REGION = "us-east-1"
BUCKETS_DIR = ".nano-modal-buckets"  # under a container's workdir: one directory per mount
_PARTIAL_SUFFIX = ".nm-partial"  # a download in progress


def server_entry(mount: api_pb2.CloudBucketMount, variables: dict[str, str]) -> dict[str, Any]:
    """One item of ENV_BUCKETS, made by the server: the mount and its secret's credentials."""
    return {
        "path": mount.mount_path,
        "bucket": mount.bucket_name,
        "endpoint_url": mount.bucket_endpoint_url,
        "key_prefix": mount.key_prefix,
        "read_only": mount.read_only,
        "requester_pays": mount.requester_pays,
        "force_path_style": mount.force_path_style,
        "credentials": {k: v for k, v in variables.items() if k in CREDENTIAL_KEYS},
    }


def bucket_places(env: dict[str, str], workdir: Path) -> list[tuple[Path, str]]:
    """(directory under the workdir, mount path) of each bucket a container spec mounts."""
    entries = json.loads(env.get(config.ENV_BUCKETS, "") or "[]")
    return [(workdir / BUCKETS_DIR / str(i), entry["path"]) for i, entry in enumerate(entries)]


@dataclass
class BucketMount:
    path: str  # where the container sees it
    bucket: str
    endpoint_url: str
    key_prefix: str
    read_only: bool
    requester_pays: bool
    force_path_style: bool
    credentials: dict[str, str]
    directory: Path  # where the worker keeps its files
    # relative path -> (size, mtime_ns) as downloaded: what upload() compares against
    synced: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"bucket {self.bucket!r}" + (f" (prefix {self.key_prefix!r})" if self.key_prefix else "")


def take_buckets(env: dict[str, str], workdir: Path) -> list[BucketMount]:
    """The worker's side of ENV_BUCKETS: the mounts, with their credentials taken out of `env`
    (what is left there, paths and flags, tells the runtime where to bind them)."""
    entries = json.loads(env.get(config.ENV_BUCKETS, "") or "[]")
    if not entries:
        return []
    mounts = []
    for (directory, _), entry in zip(bucket_places(env, workdir), entries, strict=True):
        mounts.append(
            BucketMount(
                entry["path"],
                entry["bucket"],
                entry["endpoint_url"],
                entry["key_prefix"],
                entry["read_only"],
                entry["requester_pays"],
                entry["force_path_style"],
                entry.pop("credentials", {}),
                directory,
            )
        )
    env[config.ENV_BUCKETS] = json.dumps(entries)
    return mounts


def _s3(mount: BucketMount) -> Any:
    """A boto3 S3 client for the mount: its own credentials only (never the worker's own AWS
    configuration), unsigned requests without any (a public bucket)."""
    try:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
    except ImportError:
        raise RuntimeError(
            "CloudBucketMount needs boto3 on the worker: pip install 'nano-modal[s3]' where the worker runs"
        ) from None
    creds = mount.credentials
    key_id = creds.get("AWS_ACCESS_KEY_ID") or creds.get("GOOGLE_ACCESS_KEY_ID")
    secret = creds.get("AWS_SECRET_ACCESS_KEY") or creds.get("GOOGLE_ACCESS_KEY_SECRET")
    region = creds.get("AWS_REGION") or creds.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    options: dict[str, Any] = {"s3": {"addressing_style": "path" if mount.force_path_style else "auto"}}
    if not (key_id and secret):
        options["signature_version"] = UNSIGNED
    session = boto3.session.Session(
        aws_access_key_id=key_id or None,
        aws_secret_access_key=secret or None,
        aws_session_token=creds.get("AWS_SESSION_TOKEN") or None,
        region_name=region,
    )
    return session.client("s3", endpoint_url=mount.endpoint_url or None, config=Config(**options))


def _payer(mount: BucketMount) -> dict[str, str]:
    return {"RequestPayer": "requester"} if mount.requester_pays else {}


def _relative(key: str, prefix: str) -> str | None:
    """An object's path under the mount; None for keys that would leave it (or name none)."""
    rest = key[len(prefix) :]
    if not rest or rest.startswith("/") or "\\" in rest:
        return None
    parts = rest.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return posixpath.join(*parts) + ("/" if rest.endswith("/") else "")


def download(mount: BucketMount, link: bool) -> None:
    """Copy every object under the mount's prefix into its directory (blocking: run in a thread).
    `link`: the runtime binds nothing, so the mount path becomes a link to the directory."""
    from ._volume_sync import _link

    mount.directory.mkdir(parents=True, exist_ok=True)
    if link:
        _link(Path(mount.path), mount.directory)
    s3 = _s3(mount)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=mount.bucket, Prefix=mount.key_prefix, **_payer(mount))
    objects: dict[str, str] = {}  # relative path -> key
    for page in pages:
        for item in page.get("Contents", []):
            relative = _relative(item["Key"], mount.key_prefix)
            if relative is None:
                continue
            if relative.endswith("/"):  # a "folder" marker: an empty directory
                (mount.directory / relative).mkdir(parents=True, exist_ok=True)
                continue
            objects[relative] = item["Key"]

    for relative, key in sorted(objects.items()):
        local = mount.directory / relative
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(local.name + _PARTIAL_SUFFIX)
        s3.download_file(mount.bucket, key, str(partial), ExtraArgs=_payer(mount) or None)
        if mount.read_only:
            partial.chmod(0o444)
        os.replace(partial, local)
        st = local.stat()
        mount.synced[relative] = (st.st_size, st.st_mtime_ns)


def _local_files(directory: Path) -> dict[str, os.stat_result]:
    """Regular files under `directory`, not following links (the container made them)."""
    found: dict[str, os.stat_result] = {}
    for root, _dirs, files in os.walk(directory):  # os.walk does not descend into links
        for name in files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) and not name.endswith(_PARTIAL_SUFFIX):
                found[Path(full).relative_to(directory).as_posix()] = st
    return found


def _open_inside(directory: Path, relative: str) -> int:
    """A file descriptor of directory/relative, refused when it is (or a parent became) a link
    out of `directory`: the container owned these files until it exited."""
    fd = os.open(directory / relative, os.O_RDONLY | os.O_NOFOLLOW)
    real = os.readlink(f"/proc/self/fd/{fd}")
    if not real.startswith(str(directory.resolve()) + os.sep):
        os.close(fd)
        raise OSError(f"{relative} leads out of the mount")
    return fd


def upload(mount: BucketMount) -> int:
    """Copy the container's changes back (blocking: run in a thread); returns how many objects
    changed. Nothing for a read_only mount."""
    if mount.read_only or not mount.directory.is_dir():
        return 0
    local = _local_files(mount.directory)
    changed = [r for r, st in sorted(local.items()) if mount.synced.get(r) != (st.st_size, st.st_mtime_ns)]
    deleted = sorted(set(mount.synced) - set(local))
    if not changed and not deleted:
        return 0  # without making a client: ~0.3 s of a container's exit, measured
    s3 = _s3(mount)

    def send(relative: str) -> int:
        try:
            fd = _open_inside(mount.directory, relative)
        except OSError:
            return 0  # a link the container left: never follow it (it could point at the worker's files)
        with os.fdopen(fd, "rb") as f:
            s3.upload_fileobj(f, mount.bucket, mount.key_prefix + relative, ExtraArgs=_payer(mount) or None)
        return 1

    sent = sum(send(relative) for relative in changed)
    for relative in deleted:
        s3.delete_object(Bucket=mount.bucket, Key=mount.key_prefix + relative, **_payer(mount))
    return sent + len(deleted)
