"""`Volume`: a persistent, versioned file system that functions mount.

```python
vol = nano_modal.Volume.from_name("data", create_if_missing=True)

@app.function(volumes={"/data": vol})
def work():
    Path("/data/out.txt").write_text("hi")
    vol.commit()                      # others see it after they reload() (also done on exit)

with vol.batch_upload() as batch:     # from anywhere
    batch.put_file("local.csv", "/inputs/local.csv")
for chunk in vol.read_file("/data/out.txt"): ...
```

Concurrent writers: commits apply file by file and the last commit of a file wins.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import posixpath
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar, TypedDict

from . import _volume_sync, config
from ._object import EphemeralContext, ObjectManager, _Object, check_object_name, environment
from ._porting_options import note_ignored
from ._utils.aio import run_blocking, run_in_background, twin
from ._volume_io import Source, commit, hash_file
from .client import Client
from .exception import AlreadyExistsError, InvalidError, NotFoundError
from .proto import api_pb2


class FileEntryType(enum.IntEnum):
    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the volume's root, no leading '/'
    type: FileEntryType
    mtime: int
    size: int


def _file_error(exc: NotFoundError) -> Exception:
    """A missing file is a FileNotFoundError; a missing volume stays a NotFoundError."""
    if config.VOLUME_FILE_NOT_FOUND in str(exc):
        return FileNotFoundError(str(exc))
    return exc


class VolumeCreateOptions(TypedDict, total=False):
    """`create_options=` of Volume.from_name/ephemeral: Modal's experimental options (its cloud's: noted, ignored)."""

    experimental_options: dict[str, Any]


class Volume(_Object):
    _kind: ClassVar[api_pb2.ObjectKind] = api_pb2.OBJECT_KIND_VOLUME
    _type_name: ClassVar[str] = "Volume"
    objects: ClassVar[ObjectManager[Volume]]

    def __init__(
        self,
        name: str | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        object_id: str | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__(name, environment_name, create_if_missing, object_id)
        self._read_only = read_only

    @classmethod
    def from_id(cls, volume_id: str) -> Volume:
        """A handle on a Volume by its id (`x.object_id`, from another process, say); checked on first use."""
        return cls(None, None, False, volume_id)

    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: int | None = None,
        create_options: VolumeCreateOptions | None = None,
    ) -> Volume:
        """A handle on the named Volume; NotFoundError on first use if it does not exist (and may not be created).

        `version` names Modal's volume formats (1 or 2); nano-modal has one format, which
        behaves as both do for a program (commit() publishes, reload() sees others' commits)."""
        check_object_name(name, "Volume")
        check_volume_version(version)
        note_create_options("Volume.from_name", create_options)
        return Volume(name, environment_name, create_if_missing)

    @staticmethod
    def ephemeral(
        *,
        environment_name: str | None = None,
        version: int | None = None,
        create_options: VolumeCreateOptions | None = None,
    ) -> EphemeralContext[Volume]:
        """`with Volume.ephemeral() as vol:` a Volume that exists for the duration of the block."""
        check_volume_version(version)
        note_create_options("Volume.ephemeral", create_options)
        return EphemeralContext(Volume(None, environment_name))

    @staticmethod
    def delete(name: str, *, environment_name: str | None = None, allow_missing: bool = False) -> None:
        """Delete a named Volume and its files (same as `Volume.objects.delete`)."""
        Volume.objects.delete(name, environment_name=environment_name, allow_missing=allow_missing)

    @twin
    async def rename(old_name: str, new_name: str, *, client: Any = None, environment_name: str | None = None) -> None:
        """Rename a named Volume (in its environment). Its id stays, so functions that mount it
        and handles already looked up keep working; `from_name(old_name)` no longer finds it."""
        del client  # one client per process (NANO_MODAL_SERVER_URL)
        check_object_name(old_name, "Volume")
        check_object_name(new_name, "Volume")
        connected = await Client.get()
        request = api_pb2.ObjectRenameRequest(
            kind=api_pb2.OBJECT_KIND_VOLUME,
            name=old_name,
            environment_name=environment(environment_name),
            new_name=new_name,
        )
        await connected.stub.ObjectRename(request)

    def read_only(self) -> Volume:
        """The same volume, to be mounted read-only: writes to it are refused."""
        return self.with_mount_options(read_only=True)

    def with_mount_options(self, *, read_only: bool | None = None, sub_path: str | None = None) -> Volume:
        """The same volume with other mount options: `read_only=True` is `.read_only()`, False
        writable again, None keeps this handle's. `sub_path` (mounting one directory of the volume)
        is not supported: a worker syncs the whole volume, so mount it and use the directory."""
        if sub_path is not None:
            raise InvalidError(
                f"Volume.with_mount_options(sub_path={str(sub_path)!r}) is not supported: nano-modal mounts "
                f"a whole volume; mount it and use {str(sub_path)!r} under its mount path"
            )
        keep = self._read_only if read_only is None else read_only
        return Volume(self._name, self._environment_name, self._create_if_missing, self._object_id, read_only=keep)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_volume,
            (self._name, self._environment_name, self._create_if_missing, self._object_id, self._read_only),
        )

    def _check_writable(self) -> None:
        if self._read_only:
            raise InvalidError(f"{self._label()} is read-only (from .read_only()): it cannot be written")

    # ------------------------------------------------------------------ inside a container

    def _local_mounts(self, what: str) -> list[_volume_sync.Mount]:
        mounts = _volume_sync.mounts_of(self.object_id)
        if not mounts:
            where = "this container" if config.is_remote() else "this process (it runs outside any container)"
            raise InvalidError(
                f"{what}() needs {self._label()} mounted, and it is not mounted in {where}; "
                "mount it with @app.function(volumes={path: volume})"
            )
        return mounts

    @twin
    async def commit(self) -> None:
        """Send this container's changes to the volume's files; others see them after they reload()."""
        self._check_writable()
        client, _ = await self._resolve()
        for mount in self._local_mounts("commit"):
            await _volume_sync.commit_mount(client, mount)

    @twin
    async def reload(self) -> None:
        """Bring this container's copy up to the latest commit (local changes to other files are kept)."""
        client, _ = await self._resolve()
        for mount in self._local_mounts("reload"):
            await _volume_sync.reload_mount(client, mount)

    # ------------------------------------------------------------------ reading

    @twin
    async def iterdir(self, path: str, *, recursive: bool = True) -> AsyncIterator[FileEntry]:
        """Entries under path (files and directories), as of the latest commit."""
        for entry in await self.listdir.aio(path, recursive=recursive):
            yield entry

    @twin
    async def listdir(self, path: str, *, recursive: bool = False) -> list[FileEntry]:
        """Entries in the directory at path (or the file at path), as of the latest commit."""
        client, volume_id = await self._resolve()
        request = api_pb2.VolumeListFilesRequest(volume_id=volume_id, path=str(path), recursive=recursive)
        try:
            response = await client.stub.VolumeListFiles(request)
        except NotFoundError as exc:
            raise _file_error(exc) from None
        return [FileEntry(e.path, FileEntryType(e.type), int(e.mtime), int(e.size)) for e in response.entries]

    @twin
    async def read_file(self, path: str) -> AsyncIterator[bytes]:
        """The file's content, in chunks."""
        client, volume_id = await self._resolve()
        request = api_pb2.VolumeReadFileRequest(volume_id=volume_id, path=str(path))
        try:
            async for chunk in client.stub.stream("VolumeReadFile", request):
                if chunk.data:
                    yield chunk.data
        except NotFoundError as exc:
            raise _file_error(exc) from None

    @twin
    async def read_file_into_fileobj(
        self, path: str, fileobj: IO[bytes], progress_cb: Callable[..., Any] | None = None
    ) -> int:
        """Write the file's content into an open binary file; returns the number of bytes.
        `progress_cb(advance=n)` is called after each chunk of n bytes is written."""
        written = 0
        async for chunk in self.read_file.aio(path):
            fileobj.write(chunk)
            written += len(chunk)
            if progress_cb is not None:
                progress_cb(advance=len(chunk))
        return written

    # ------------------------------------------------------------------ writing

    @twin
    async def remove_file(self, path: str, recursive: bool = False) -> None:
        """Delete a file (or, with recursive=True, a directory) from the volume."""
        self._check_writable()
        client, volume_id = await self._resolve()
        request = api_pb2.VolumeRemoveFileRequest(volume_id=volume_id, path=str(path), recursive=recursive)
        try:
            await client.stub.VolumeRemoveFile(request)
        except NotFoundError as exc:
            raise _file_error(exc) from None

    @twin
    async def copy_files(self, src_paths: list[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files within the volume (without moving their contents: they are shared)."""
        self._check_writable()
        client, volume_id = await self._resolve()
        request = api_pb2.VolumeCopyFilesRequest(
            volume_id=volume_id, src_paths=[str(p) for p in src_paths], dst_path=str(dst_path), recursive=recursive
        )
        try:
            await client.stub.VolumeCopyFiles(request)
        except NotFoundError as exc:
            raise _file_error(exc) from None

    def batch_upload(self, force: bool = False) -> VolumeUploadContextManager:
        """`with vol.batch_upload() as batch: batch.put_file(...)`: everything is sent when the block ends.
        Without force, an upload over an existing file raises FileExistsError (and nothing is written)."""
        self._check_writable()
        return VolumeUploadContextManager(self, force)


def _rebuild_volume(
    name: str | None, environment_name: str | None, create_if_missing: bool, object_id: str | None, read_only: bool
) -> Volume:
    return Volume(name, environment_name, create_if_missing, object_id, read_only)


class VolumeManager(ObjectManager[Volume]):
    """`Volume.objects`: as other kinds', with Modal's volume options."""

    @twin
    async def create(
        self,
        name: str,
        *,
        version: int | None = None,
        allow_existing: bool = False,
        environment_name: str | None = None,
        experimental_options: dict[str, Any] | None = None,
    ) -> None:
        """Create a named Volume; AlreadyExistsError if it exists, unless allow_existing. `version`:
        Modal's volume format (1 or 2; nano-modal's one format behaves as both)."""
        check_volume_version(version)
        note_ignored("Volume.objects.create", {"experimental_options": experimental_options})
        await self._create(name, environment_name, allow_existing)


def note_create_options(where: str, create_options: VolumeCreateOptions | None) -> None:
    """`create_options=`: Modal's only one, experimental_options, is its cloud's (noted, ignored)."""
    note_ignored(where, {"experimental_options": (create_options or {}).get("experimental_options")})


Volume.objects = VolumeManager(Volume)


class VolumeUploadContextManager:
    def __init__(self, volume: Volume, force: bool) -> None:
        self.volume = volume
        self.force = force
        self._files: list[tuple[str, Source, int | None]] = []  # (remote path, source, mode)

    @staticmethod
    def _remote(remote_path: str | PurePosixPath) -> str:
        path = posixpath.normpath("/" + str(remote_path)).lstrip("/")
        if not path or str(remote_path).endswith("/"):
            raise InvalidError(f"{remote_path!r} is not a file path in the volume")
        return path

    def put_file(
        self, local_file: str | Path | IO[bytes], remote_path: str | PurePosixPath, mode: int | None = None
    ) -> None:
        """Upload a local file (a path, or an open binary file) to remote_path."""
        if isinstance(local_file, str | Path):
            source = Path(local_file)
            if not source.is_file():
                raise FileNotFoundError(f"no such local file: {source}")
            self._files.append((self._remote(remote_path), Source(path=source), mode))
        else:
            self._files.append((self._remote(remote_path), Source(data=local_file.read()), mode))

    def put_directory(self, local_path: str | Path, remote_path: str | PurePosixPath, recursive: bool = True) -> None:
        """Upload the files of a local directory under remote_path."""
        base = Path(local_path)
        if not base.is_dir():
            raise FileNotFoundError(f"no such local directory: {base}")
        files = base.rglob("*") if recursive else base.iterdir()
        for f in sorted(files):
            if f.is_file():
                self.put_file(f, posixpath.join(str(remote_path), f.relative_to(base).as_posix()))

    async def _flush(self) -> None:
        if not self._files:
            return
        client, volume_id = await self.volume._resolve()
        puts: list[api_pb2.VolumeFile] = []
        sources: dict[str, Source] = {}
        for remote, source, mode in self._files:
            if source.path is not None:
                blob_id, size = await asyncio.to_thread(hash_file, source.path)
                st = source.path.stat()
                mode, mtime = mode if mode is not None else st.st_mode & 0o777, st.st_mtime
            else:
                assert source.data is not None
                blob_id, size = hashlib.sha256(source.data).hexdigest(), len(source.data)
                mode, mtime = mode if mode is not None else 0o644, 0.0
            puts.append(api_pb2.VolumeFile(path=remote, blob_id=blob_id, size=size, mode=mode, mtime=mtime))
            sources[blob_id] = source
        try:
            await commit(client, volume_id, puts, [], sources, overwrite=self.force)
        except AlreadyExistsError as exc:
            raise FileExistsError(str(exc)) from None
        self._files = []

    def __enter__(self) -> VolumeUploadContextManager:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            run_blocking(self._flush())

    async def __aenter__(self) -> VolumeUploadContextManager:
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            await run_in_background(self._flush())


async def resolve_mounts(volumes: Mapping[str, Any]) -> list[api_pb2.VolumeMount]:
    """The mounts a FunctionDefinition carries (hydrating each volume)."""
    mounts = []
    for path, volume in volumes.items():
        if not isinstance(volume, Volume):
            continue  # a CloudBucketMount (cloud_bucket_mount.py resolve_bucket_mounts)
        _, volume_id = await volume._resolve()
        mounts.append(
            api_pb2.VolumeMount(mount_path=posixpath.normpath(path), volume_id=volume_id, read_only=volume._read_only)
        )
    return mounts


# Modal's volume format versions (VolumeFS v1 and v2): a program may name either.
VOLUME_VERSIONS = (1, 2)


def check_volume_version(version: int | None) -> None:
    if version is not None and version not in VOLUME_VERSIONS:
        raise InvalidError(f"Volume version must be one of {VOLUME_VERSIONS}, got {version!r}")


def validate_mounts(volumes: Mapping[Any, Any], function_name: str) -> None:
    """Checked when the function is defined: absolute, distinct, non-nested paths of Volumes
    and CloudBucketMounts."""
    from .cloud_bucket_mount import CloudBucketMount

    paths: list[str] = []
    for path, volume in volumes.items():
        if isinstance(volume, CloudBucketMount):
            volume.validate(function_name)
        elif not isinstance(volume, Volume):
            raise InvalidError(
                f"{function_name}: volumes[{path!r}] must be a nano_modal.Volume or CloudBucketMount, "
                f"not {type(volume).__name__}"
            )
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidError(f"{function_name}: volume mount path {path!r} must be an absolute path")
        clean = posixpath.normpath(path)
        if clean == "/" or ".." in clean.split("/"):
            raise InvalidError(f"{function_name}: cannot mount a volume at {path!r}")
        paths.append(clean)
    for a in paths:
        for b in paths:
            if a != b and (b + "/").startswith(a + "/"):
                raise InvalidError(f"{function_name}: volume mount paths {a!r} and {b!r} overlap")
    if len(set(paths)) != len(paths):
        raise InvalidError(f"{function_name}: two volumes are mounted at the same path")
