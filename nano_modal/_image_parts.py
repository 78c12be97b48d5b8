"""The pieces an Image is made of that need no Image: its content id, the tar of local files,
and how a step's arguments are checked and normalized."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from .exception import InvalidError
from .proto import api_pb2


class PipOptions(TypedDict, total=False):
    """The options `pip_install` takes, shared by the methods that call it."""

    find_links: str | None
    index_url: str | None
    extra_index_url: str | None
    pre: bool
    extra_options: str
    secrets: Sequence[Any]
    force_build: bool
    env: dict[str, str | None] | None
    gpu: str | None


def image_id(spec: api_pb2.ImageSpec) -> str:
    """Content id of a definition: the same steps on the same base (and files) give the same id."""
    if spec.base.kind == "id":
        return spec.base.ref
    data = spec.__deepcopy__()
    data.image_id = ""
    for step in data.steps:
        step.blob_id = ""  # blobs are content-addressed by content_hash already
        del step.secret_ids[:]  # secrets are not part of what the image is
    del data.base.secret_ids[:]
    return "im-" + hashlib.sha256(data.SerializeToString(deterministic=True)).hexdigest()[:24]


def tar_local(source: Path, ignore: Sequence[str] = (), ignore_fn: Callable[[Path], bool] | None = None) -> bytes:
    """A deterministic tar of a file, or of a directory's contents (names relative to it).
    `ignore_fn` (a FilePatternMatcher, or any predicate) leaves out the relative paths it is true for."""
    prune = ignore_fn is None or bool(getattr(ignore_fn, "can_prune_directories", lambda: False)())
    import fnmatch

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(path: Path, name: str) -> None:
            info = tar.gettarinfo(str(path), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isreg():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)

        if source.is_file():
            add(source, source.name)
        else:
            for root, dirs, files in os.walk(source):
                rel_root = Path(root).relative_to(source)
                for name in sorted(dirs + files):
                    rel = (rel_root / name).as_posix()
                    if any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in ignore):
                        if name in dirs:
                            dirs.remove(name)
                        continue
                    if ignore_fn is not None and ignore_fn(Path(rel)):
                        if name in dirs and prune:
                            dirs.remove(name)  # else what it holds is still matched one by one
                        continue
                    add(Path(root) / name, rel)
                dirs.sort()
    return buf.getvalue()


def flatten(items: Sequence[str | list[str]]) -> list[str]:
    out: list[str] = []
    for item in items:
        for value in [item] if isinstance(item, str) else item:
            if not isinstance(value, str):
                raise InvalidError(f"expected strings, got {value!r}")
            if value.strip():
                out.append(value.strip())
    return out


def step_secrets(secrets: Sequence[Any], env: dict[str, str | None] | None = None) -> tuple[Any, ...]:
    """A step's secrets, with `env=` (variables set while the step runs) as one more."""
    from ._porting_options import env_secrets
    from .secret import validate_secrets

    validate_secrets(secrets, "image step")
    return (*secrets, *env_secrets(env))


def with_volumes(volumes: dict[str, Any] | None, where: str) -> tuple[tuple[str, Any], ...]:
    """A build step's volumes (mounted while it runs, committed after), checked, in a stable order."""
    if not volumes:
        return ()
    from .cloud_bucket_mount import CloudBucketMount
    from .volume import validate_mounts

    validate_mounts(volumes, where)
    if any(isinstance(mount, CloudBucketMount) for mount in volumes.values()):
        raise InvalidError(
            f"{where}: a CloudBucketMount is not mounted in image build steps (the worker copies buckets for "
            "containers only); read the bucket with boto3 in the function, or mount a Volume"
        )
    return tuple(sorted(volumes.items()))


def note_build_gpu(where: str, gpu: str | None) -> None:
    from ._porting_options import note_ignored

    note_ignored(where, {"build_gpu": gpu})


# Modal's default for Image.run_function(timeout=), in seconds (worker/images/step_limits.py).
RUN_FUNCTION_TIMEOUT = 60 * 60


def run_function_limits(cpu: float | None, memory: int | None, timeout: int) -> tuple[tuple[str, str], ...]:
    """run_function's cpu (cores), memory (MiB) and timeout (seconds) as step options; the default
    timeout is left out, so that the step's options are what they were without these."""
    for name, value in (("cpu", cpu), ("memory", memory), ("timeout", timeout)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            raise InvalidError(f"run_function: {name} must be a positive number, got {value!r}")
    return step_options(
        {
            "cpu": f"{cpu:g}" if cpu else "",
            "memory": str(int(memory)) if memory else "",
            "timeout": f"{timeout:g}" if timeout != RUN_FUNCTION_TIMEOUT else "",
        }
    )


def step_options(options: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in options.items() if v))


def absolute_path(path: str, what: str) -> str:
    if not path.startswith("/"):
        raise InvalidError(f"{what} must be an absolute path inside the image, got {path!r}")
    return path
