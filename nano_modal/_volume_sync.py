"""Volumes inside a container: a local directory kept in step with the server's manifest.

Where the files live:

* an isolating runtime that can bind-mount (bwrap) gives the container a private directory
  at each mount path and says so in NANO_MODAL_MOUNTS; the files are synced right there;
* the `process` runtime cannot mount anything, so the files are synced into a per-host
  cache directory (one per volume, shared by that host's containers) and the mount path is
  made a symlink to it. This needs permission to create the mount path (e.g. /data as root),
  and two functions cannot mount different volumes at the same path on one host at once.

A small JSON state file remembers, for every file, the content id and the local size and
mtime it had when last synced; that is how `commit()` finds changed files without hashing
everything, and how `reload()` tells a local edit from a stale copy.

Semantics (Modal's): writes are local until `commit()` (also run when the container exits);
other containers see them after they `reload()`. Commits apply file by file: when two
containers change the same file, the last commit wins. `reload()` keeps local changes to
files that did not change remotely, and replaces those that did.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from ._bucket_sync import bucket_places
from ._volume_io import Source, commit, download, hash_file
from .client import Client
from .exception import ExecutionError, InvalidError
from .proto import api_pb2

_DOWNLOAD_PREFIX = ".nm-download-"


@dataclass
class Mount:
    path: str  # where the function sees it
    volume_id: str
    read_only: bool
    directory: Path  # where the files are
    state_file: Path
    lock_file: Path
    # path -> [blob_id, size, mtime_ns, mode] as of the last sync
    files: dict[str, list[Any]] = field(default_factory=dict)


_mounts: dict[str, list[Mount]] = {}  # volume_id -> its mounts in this container


def mounts_of(volume_id: str) -> list[Mount]:
    return _mounts.get(volume_id, [])


def all_mounts() -> list[Mount]:
    return [m for ms in _mounts.values() for m in ms]


# ------------------------------------------------------------------ setting up


def _cache_root() -> Path:
    root = Path(tempfile.gettempdir()) / f"nano-modal-volumes-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _place(spec: api_pb2.VolumeMount, premounted: dict[str, str]) -> Mount:
    tag = hashlib.sha256(spec.mount_path.encode()).hexdigest()[:8]
    if spec.mount_path in premounted:
        state_dir = Path.home() / ".nano-modal-volumes"
        state_dir.mkdir(parents=True, exist_ok=True)
        base = state_dir / f"{spec.volume_id}-{tag}"
        directory = Path(premounted[spec.mount_path])
    else:
        base = _cache_root() / (spec.volume_id + ("-ro" if spec.read_only else ""))
        directory = base
        _link(Path(spec.mount_path), directory)
    directory.mkdir(parents=True, exist_ok=True)
    return Mount(
        spec.mount_path,
        spec.volume_id,
        spec.read_only,
        directory,
        base.with_name(base.name + ".state.json"),
        base.with_name(base.name + ".lock"),
    )


def _link(mount_path: Path, directory: Path) -> None:
    """Make mount_path a symlink to directory (the `process` runtime's stand-in for a bind mount)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        if mount_path.is_symlink():
            if os.readlink(mount_path) == str(directory):
                return
        elif mount_path.exists():
            if not mount_path.is_dir() or any(mount_path.iterdir()):
                raise ExecutionError(
                    f"cannot mount a volume at {mount_path}: something is already there "
                    "(the process runtime links mount paths and will not hide existing files)"
                )
            mount_path.rmdir()
        mount_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = mount_path.with_name(f".{mount_path.name}.nm-link-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(directory, target_is_directory=True)
        os.replace(tmp, mount_path)  # atomic, also over an older link
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise ExecutionError(
            f"cannot mount a volume at {mount_path}: {exc.strerror}. This container's runtime did not "
            f"bind the volume there ({config.ENV_MOUNTS} is not set), so it has to create that path itself, "
            "and may not: use a writable mount path, or a runtime that binds volumes"
        ) from None


def runtime_binds(env: dict[str, str], workdir: Path) -> tuple[list[tuple[Path, str]], dict[str, str]]:
    """For a runtime that can bind-mount (bwrap): a private directory per volume mount, under the
    container's workdir, to bind read-write at the mount path, and the environment entry that
    tells the container its volumes are already in place. In a runtime's argv builder:

        binds, extra_env = runtime_binds(cfg.env, cfg.workdir)
        for host_dir, mount_path in binds:
            args += ["--bind", str(host_dir), mount_path]   # before --remount-ro /
        env.update(extra_env)

    CloudBucketMounts (ENV_BUCKETS) get one too, after the volumes'.
    Read-only mounts are bound read-write too: the container writes the files it syncs there;
    commits from a read-only mount are refused by the SDK and by the server.
    """
    mounts = json.loads(env.get(config.ENV_VOLUMES, "") or "[]")
    binds: list[tuple[Path, str]] = []
    for i, mount in enumerate(mounts):
        host_dir = workdir / ".nano-modal-volumes" / str(i)
        host_dir.mkdir(parents=True, exist_ok=True)
        binds.append((host_dir, mount["path"]))
    for host_dir, path in bucket_places(env, workdir):  # CloudBucketMounts: the worker fills them (_bucket_sync.py)
        host_dir.mkdir(parents=True, exist_ok=True)
        binds.append((host_dir, path))
    extra = {config.ENV_MOUNTS: json.dumps({path: path for _, path in binds})} if binds else {}
    return binds, extra


def attach_mounts(specs: Iterable[api_pb2.VolumeMount]) -> None:
    """In another process of a container whose mounts `setup_mounts` made (their files synced,
    their state on disk): know them too, to commit and reload them (each sync takes the lock)."""
    premounted: dict[str, str] = json.loads(os.environ.get(config.ENV_MOUNTS, "{}") or "{}")
    for spec in specs:
        _mounts.setdefault(spec.volume_id, []).append(_place(spec, premounted))


async def setup_mounts(specs: Iterable[api_pb2.VolumeMount]) -> None:
    """At container start, before user code runs: make every volume visible at its mount path."""
    specs = list(specs)
    if not specs:
        return
    premounted: dict[str, str] = json.loads(os.environ.get(config.ENV_MOUNTS, "{}") or "{}")
    client = await Client.get()
    for spec in specs:
        mount = _place(spec, premounted)
        _mounts.setdefault(spec.volume_id, []).append(mount)
        await reload_mount(client, mount)


async def commit_on_exit() -> list[str]:
    """When the container exits: commit every writable mount (Modal commits on exit too).
    Returns the mount paths whose commit failed, each already reported on stderr."""
    writable = [m for m in all_mounts() if not m.read_only]
    if not writable:
        return []
    client = await Client.get()
    failed: list[str] = []
    for mount in writable:
        try:
            await commit_mount(client, mount)
        except Exception as exc:  # the others are still committed; the caller ends the container with an error
            print(
                f"nano-modal: the volume at {mount.path} was NOT committed on exit, its changes since the "
                f"last commit are lost: {type(exc).__name__}: {exc}",
                file=sys.stderr,
                flush=True,
            )
            failed.append(mount.path)
    return failed


# ------------------------------------------------------------------ state and locking


@contextlib.asynccontextmanager
async def _locked(mount: Mount) -> AsyncIterator[None]:
    """Containers on one host share the process runtime's cache directory: one sync at a time."""
    fd = os.open(mount.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        mount.files = _load_state(mount.state_file)
        yield
        _save_state(mount.state_file, mount.files)
    finally:
        os.close(fd)  # closing releases the lock


def _load_state(path: Path) -> dict[str, list[Any]]:
    try:
        files: dict[str, list[Any]] = json.loads(path.read_text())["files"]
        return files
    except (FileNotFoundError, ValueError, KeyError):
        return {}


def _save_state(path: Path, files: dict[str, list[Any]]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"files": files}))
    os.replace(tmp, path)


def _unchanged(local: Path, record: list[Any]) -> bool:
    try:
        st = local.stat()
    except FileNotFoundError:
        return False
    return bool(st.st_size == record[1] and st.st_mtime_ns == record[2])


def _record(blob_id: str, local: Path) -> list[Any]:
    st = local.stat()
    return [blob_id, st.st_size, st.st_mtime_ns, st.st_mode & 0o777]


def _local_files(directory: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            full = Path(root, name)
            if name.startswith(_DOWNLOAD_PREFIX) or full.is_symlink():
                continue  # half-downloaded files, and links (volumes hold regular files only)
            found[full.relative_to(directory).as_posix()] = full
    return found


def _prune_empty_dirs(directory: Path, start: Path) -> None:
    current = start
    while current != directory and current.is_dir() and not any(current.iterdir()):
        current.rmdir()
        current = current.parent


# ------------------------------------------------------------------ reload and commit


async def reload_mount(client: Client, mount: Mount) -> None:
    """Bring the local directory up to the latest committed version."""
    async with _locked(mount):
        manifest = await client.stub.VolumeGetManifest(api_pb2.VolumeGetManifestRequest(volume_id=mount.volume_id))
        remote = {f.path: f for f in manifest.files}
        for path, record in list(mount.files.items()):
            if path in remote:
                continue
            local = mount.directory / path
            if _unchanged(local, record):  # deleted elsewhere and untouched here: delete
                local.unlink(missing_ok=True)
                _prune_empty_dirs(mount.directory, local.parent)
            del mount.files[path]  # otherwise it is now an uncommitted local file
        for path, f in remote.items():
            known = mount.files.get(path)
            if known is not None and known[0] == f.blob_id:
                continue  # up to date (a local edit, if any, is kept for the next commit)
            local = mount.directory / path
            if known is None and local.is_file() and (await asyncio.to_thread(hash_file, local))[0] == f.blob_id:
                mount.files[path] = _record(f.blob_id, local)
                continue
            _make_room(mount.directory, local)
            await download(client, f.blob_id, local, 0o444 if mount.read_only else f.mode, f.mtime)
            mount.files[path] = _record(f.blob_id, local)


def _make_room(directory: Path, local: Path) -> None:
    """The remote says `local` is a file: remove a local directory there, or local files in its way."""
    if local.is_dir() and not local.is_symlink():
        shutil.rmtree(local)
    parent = local.parent
    while parent != directory:
        if parent.is_file() or parent.is_symlink():
            parent.unlink()
        parent = parent.parent


async def commit_mount(client: Client, mount: Mount) -> int:
    """Send local changes to the server; returns how many files changed."""
    if mount.read_only:
        raise InvalidError(f"the volume at {mount.path} is mounted read-only: it cannot be committed")
    try:
        return await _commit_once(client, mount)
    except InvalidError as exc:
        if "does not match" not in str(exc):
            raise
        return await _commit_once(client, mount)  # a file changed while it was being sent: look again


async def _commit_once(client: Client, mount: Mount) -> int:
    async with _locked(mount):
        local_files = _local_files(mount.directory)
        puts: list[api_pb2.VolumeFile] = []
        sources: dict[str, Source] = {}
        changed: dict[str, Path] = {}
        for path, local in local_files.items():
            record = mount.files.get(path)
            if record is not None and _unchanged(local, record):
                continue
            blob_id, size = await asyncio.to_thread(hash_file, local)
            if record is not None and record[0] == blob_id:
                mount.files[path] = _record(blob_id, local)  # touched, not changed
                continue
            st = local.stat()
            puts.append(
                api_pb2.VolumeFile(path=path, blob_id=blob_id, size=size, mode=st.st_mode & 0o777, mtime=st.st_mtime)
            )
            sources[blob_id] = Source(path=local)
            changed[path] = local
        deletes = [p for p in mount.files if p not in local_files]
        if not puts and not deletes:
            return 0
        await commit(client, mount.volume_id, puts, deletes, sources)
        for put in puts:
            mount.files[put.path] = _record(put.blob_id, changed[put.path])
        for path in deletes:
            mount.files.pop(path, None)
        return len(puts) + len(deletes)
