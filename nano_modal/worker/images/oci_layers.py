"""Apply image layers (tar archives: plain, gzip or zstd) to a root filesystem, OCI style.

Whiteouts: `.wh.NAME` removes NAME from the layers below, `.wh..wh..opq` empties its directory
of what the layers below put there. Extraction never writes outside the root: entry names with
`..` are rejected, and symlinks met on the way are resolved as if the root were `/`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, cast

from nano_modal.exception import InvalidError

Log = Callable[[str], None]
COPY_CHUNK = 1024 * 1024


def make_workdir(root: Path, path: str, where: str) -> None:
    """Create directory `path` of the image in `root` (symlinks resolved inside the root)."""
    extractor = _Extractor(str(root), where)
    os.makedirs(extractor.resolve(extractor.parts(path)), mode=0o755, exist_ok=True)


class _HashingReader:
    """A read-only stream that hashes what passes through (for the uncompressed layer's diff_id)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.hasher = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.hasher.update(data)
        return data

    def drain(self) -> str:
        while self.read(COPY_CHUNK):
            pass
        return "sha256:" + self.hasher.hexdigest()


def _decompress(blob: IO[bytes], where: str) -> IO[bytes]:
    magic = blob.read(4)
    blob.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=blob, mode="rb"))
    if magic == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise InvalidError(
                f"{where} is zstd-compressed; install the `zstandard` package on the worker to use it"
            ) from None
        return zstandard.ZstdDecompressor().stream_reader(blob)  # type: ignore[no-any-return]
    return blob


def apply_layer(
    blob: IO[bytes], dest: Path, *, diff_id: str | None = None, where: str = "layer", log: Log | None = None
) -> None:
    """Apply one layer (a tar, plain, gzip or zstd) on top of the root filesystem in `dest`."""
    reader = _HashingReader(_decompress(blob, where))
    extractor = _Extractor(str(dest), where)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                extractor.apply(tar, member)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as e:
        raise InvalidError(f"{where} is not a valid tar archive: {e}") from e
    actual = reader.drain()
    if diff_id and actual != diff_id:
        raise InvalidError(f"{where}: uncompressed digest {actual} does not match the config's diff_id {diff_id}")
    if extractor.skipped_devices and log:
        log(f"  skipped {extractor.skipped_devices} device node(s): not running as root")


class _Extractor:
    def __init__(self, root: str, where: str) -> None:
        self.root = os.path.realpath(root)
        self.where = where
        self.created: set[str] = set()  # paths this layer wrote: its own whiteouts never remove them
        self.is_root = os.geteuid() == 0
        # resolved parent directories; cleared when anything is removed (the only way a resolution changes)
        self.parents: dict[tuple[str, ...], str] = {}
        self.skipped_devices = 0

    def parts(self, name: str) -> list[str]:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise InvalidError(f"{self.where}: entry {name!r} points outside the image root")
        return parts

    def resolve(self, parts: list[str]) -> str:
        """The host path of `parts`, following symlinks as if the root were `/` (so never out of it)."""
        resolved: list[str] = []
        todo = list(reversed(parts))
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *resolved, part)
            if os.path.islink(candidate):
                hops += 1
                if hops > 40:
                    raise InvalidError(f"{self.where}: too many symlinks under /{'/'.join(parts)}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                todo.extend(reversed(target.split("/")))
                continue
            resolved.append(part)
        return os.path.join(self.root, *resolved)

    def apply(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = self.parts(member.name)
        if not parts:
            return  # the root directory itself
        parent = self.parents.get(tuple(parts[:-1])) or self.resolve(parts[:-1])
        self.parents[tuple(parts[:-1])] = parent
        name = parts[-1]
        if name == ".wh..wh..opq":
            if os.path.isdir(parent):
                for child in os.listdir(parent):
                    if os.path.join(parent, child) not in self.created:
                        self.remove(os.path.join(parent, child))
            return
        if name.startswith(".wh."):
            if name[4:] in ("", ".", ".."):
                raise InvalidError(f"{self.where}: whiteout {member.name!r} points outside its directory")
            target = os.path.join(parent, name[4:])
            if target not in self.created:
                self.remove(target)
            return
        os.makedirs(parent, exist_ok=True)
        path = os.path.join(parent, name)
        self.created.add(path)
        if member.isdir() and os.path.isdir(path) and not os.path.islink(path):
            self.finish(path, member)
            return
        self.remove(path)
        if member.isdir():
            os.mkdir(path, 0o700)
        elif member.isreg():
            source = tar.extractfile(member)
            assert source is not None
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(source, f, COPY_CHUNK)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            target = self.resolve_link(self.parts(member.linkname))
            if not os.path.lexists(target) or (os.path.isdir(target) and not os.path.islink(target)):
                raise InvalidError(f"{self.where}: hard link {member.name!r} -> {member.linkname!r} has no file")
            os.link(target, path, follow_symlinks=False)
            return
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        elif member.ischr() or member.isblk():
            if not self.is_root:
                self.skipped_devices += 1
                return
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, 0o600 | kind, os.makedev(member.devmajor, member.devminor))
        else:
            return  # other tar entry kinds (e.g. sparse headers already folded in) carry no file
        self.finish(path, member)

    def remove(self, path: str) -> None:
        if _remove(path):
            self.parents.clear()

    def resolve_link(self, parts: list[str]) -> str:
        """A hard link's target: its parent resolved inside the root, the last part taken as is."""
        return os.path.join(self.resolve(parts[:-1]), parts[-1]) if parts else self.root

    def finish(self, path: str, member: tarfile.TarInfo) -> None:
        if self.is_root:
            with contextlib.suppress(OSError):
                os.chown(path, member.uid, member.gid, follow_symlinks=False)
        if not member.issym():
            mode = member.mode & (0o7777 if self.is_root else 0o777)
            if member.isdir() and not self.is_root:
                mode |= 0o700  # later entries (and layers) must still be able to write into it
            os.chmod(path, mode)
        if not member.isdir():  # a directory's time changes with every entry written into it
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def _remove(path: str) -> bool:
    """Remove whatever is at `path` (never following a symlink); False when there was nothing."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return True
