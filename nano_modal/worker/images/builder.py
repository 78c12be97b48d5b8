"""Build images on the worker: a base root filesystem, then one cached layer per step.

A build happens before the first container of an image starts; containers of the same
image arriving meanwhile wait for it (one build per image id per worker). Every base and
layer is content-addressed (store.py), so rebuilding an unchanged image only reads a few
JSON files. Steps that run commands get the image so far as an overlayfs (lower: the base
and the layers below; upper: the new layer) in a bwrap sandbox (overlay.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ... import config
from ...exception import InvalidError
from ...proto import api_pb2
from . import deps, ubuntu
from .oci import fetch_image
from .overlay import mount_overlay, run_in_root, unmount
from .registry_refs import mirrors_from_env
from .steps import RUN_FUNCTION_DIR, RUN_FUNCTION_FILE, StepError, apply_step, describe, step_key
from .store import BuiltImage, ImageState, Store, digest, du, remove_tree

Log = Callable[[str], None]
# Mounts a run_function step's volumes for as long as the step runs: yields (host dir, mount
# path) pairs, commits what the step wrote when it ends well (service.py makes it).
VolumeHook = Callable[[api_pb2.ImageStep], AbstractContextManager[list[tuple[Path, str]]]]
# python-is-python3: a `python` command, as Modal's debian_slim images and python:*-slim have.
DEBIAN_PACKAGES = "python3,python-is-python3,python3-pip,ca-certificates"
BASE_RECIPE = f"minbase+{DEBIAN_PACKAGES}+updates,security v3"  # changing it rebuilds every debian base
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class ImageBuilder:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self.store.sweep_tmp()
        self.registry_mirrors = mirrors_from_env()  # read once: a bad setting fails the first build, in one line
        self._locks: dict[str, asyncio.Lock] = {}
        self._built: dict[str, BuiltImage] = {}

    def lock(self, image_id: str) -> asyncio.Lock:
        """Held while `image_id` is built: containers of the image arriving meanwhile wait."""
        return self._locks.setdefault(image_id, asyncio.Lock())

    async def ensure(
        self,
        spec: api_pb2.ImageSpec,
        fetch: Callable[[str], Any],
        log: Log,
        secrets: dict[int, dict[str, str]] | None = None,
        volumes: VolumeHook | None = None,
    ) -> BuiltImage:
        """The built image for `spec`, building what is missing. `fetch(blob_id)` is awaited for
        the files of add_local steps; `log` gets the build's progress (called from a thread);
        `volumes` mounts a run_function step's volumes (and commits them after it)."""
        async with self.lock(spec.image_id):
            known = self._built.get(spec.image_id)
            mounted = [source for source, _ in known.mounts] if known is not None else []
            if known is not None and all(p.exists() for p in (known.rootfs, *known.layers, *mounted)):
                self.store.touch(spec.image_id)  # `image list`'s "last used"
                return known  # unless `nano-modal image prune` removed it meanwhile
            files = {}
            for step in spec.steps:
                if step.kind in ("add_local", "run_function"):
                    files[step.content_hash] = await self._local_files(step, fetch)
            built = await asyncio.to_thread(self.build, spec, files, log, secrets or {}, volumes)
            self._built[spec.image_id] = built
            return built

    async def _local_files(self, step: api_pb2.ImageStep, fetch: Callable[[str], Any]) -> Path:
        final = self.store.root / "files" / step.content_hash
        if not final.exists():
            data: bytes = await fetch(step.blob_id)
            with self.store.staging(final) as tmp:
                if step.kind == "run_function":  # a pickle, not a tar
                    (tmp / "tree").mkdir()
                    (tmp / "tree" / RUN_FUNCTION_FILE).write_bytes(data)
                    return final / "tree"
                tar_path = tmp / "files.tar"
                tar_path.write_bytes(data)
                with tarfile.open(tar_path) as tar:
                    tar.extractall(tmp / "tree", filter="tar")
                tar_path.unlink()
                (tmp / "tree").mkdir(exist_ok=True)
        return final / "tree"

    # ------------------------------------------------------------------ the build (in a thread)

    def build(
        self,
        spec: api_pb2.ImageSpec,
        files: dict[str, Path],
        log: Log,
        secrets: dict[int, dict[str, str]],
        volumes: VolumeHook | None = None,
    ) -> BuiltImage:
        try:
            return self._build(spec, files, log, secrets, volumes)
        except BaseException:
            self.store.remove_record(spec.image_id)  # listed only once complete
            raise

    def _build(
        self,
        spec: api_pb2.ImageSpec,
        files: dict[str, Path],
        log: Log,
        secrets: dict[int, dict[str, str]],
        volumes: VolumeHook | None,
    ) -> BuiltImage:
        started = time.monotonic()
        if spec.base.kind == "id":
            return self._from_record(spec.base.ref)
        base_key, rootfs, state, base_info = self.base(spec.base, log, secrets.get(-1, {}), spec.cache_scope)
        # The first layer's parent carries the scope (server/images.py): a workspace never
        # reuses another's layers, which may hold what that workspace's secrets fetched.
        first_parent = digest(base_key, "scope", spec.cache_scope) if spec.cache_scope else base_key
        parent, chain, layers = first_parent, [], []  # type: tuple[str, list[str], list[Path]]
        built = BuiltImage(spec.image_id, rootfs, layers, state)
        steps = [describe(s) for s in spec.steps]
        # Recorded as it grows, so that `image prune` meanwhile keeps what this build has made.
        self.store.record(built, base_info, steps, chain)
        total = len(spec.steps)
        for number, step in enumerate(spec.steps, 1):
            step_secrets = secrets.get(number - 1, {})
            prefix = f"Step {number}/{total}: {describe(step)}"
            if step.kind == "add_local" and not step.options.get("copy"):
                built.mounts.append(_mount_source(files[step.content_hash], step))
                log(f"{prefix} (mounted when containers start)")
                continue
            key = step_key(parent, step)
            layer = self.store.layer_dir(key)
            if layer.exists():
                log(f"{prefix} (cached)")
            else:
                log(prefix)
                t0 = time.monotonic()
                with self.store.staging(layer) as tmp:
                    with contextlib.ExitStack() as stack:
                        writable = stack.enter_context(volumes(step)) if volumes and step.volume_mounts else []
                        new_state = self._run_step(step, rootfs, layers, state, tmp, files, log, step_secrets, writable)
                    self.store.write_json(
                        tmp / "layer.json",
                        {"parent": parent, "step": describe(step), "state": asdict(new_state), "size": du(tmp)},
                    )
                log(f"  done in {time.monotonic() - t0:.1f}s")
            state = ImageState(**json.loads((layer / "layer.json").read_text())["state"])
            if any((layer / "diff").iterdir()):
                layers.append(layer / "diff")
            chain.append(key)
            parent = key
            self.store.record(built, base_info, steps, chain)
        built.state = state
        self.store.record(built, base_info, steps, chain)
        log(f"Image {spec.image_id} ready in {time.monotonic() - started:.1f}s")
        return built

    def _run_step(
        self,
        step: api_pb2.ImageStep,
        rootfs: Path,
        layers: list[Path],
        state: ImageState,
        tmp: Path,
        files: dict[str, Path],
        log: Log,
        secrets: dict[str, str],
        writable: list[tuple[Path, str]] | None = None,
    ) -> ImageState:
        binds: list[tuple[Path, str]] = []
        if step.kind == "run_function":  # the SDK's packages (cloudpickle) and the pickled call
            deps = self.runtime_deps(BuiltImage("", rootfs, layers, state), log)
            binds = [(deps, config.IMAGE_DEPS_DIR), (files[step.content_hash], RUN_FUNCTION_DIR)]
        diff, work, merged = tmp / "diff", tmp / "work", tmp / "merged"
        diff.mkdir()
        work.mkdir()
        mount_overlay([*reversed(layers), rootfs], merged, diff, work)
        try:
            return apply_step(step, merged, state, files, lambda line: log(f"  | {line}"), secrets, binds, writable)
        finally:
            unmount(merged)
            shutil.rmtree(work, ignore_errors=True)
            merged.rmdir()

    def _from_record(self, image_id: str) -> BuiltImage:
        path = self.store.root / "records" / f"{image_id}.json"
        if not path.exists():
            raise InvalidError(f"image {image_id} is not on this worker (see `nano-modal image list`)")
        rec = json.loads(path.read_text())
        layers = [self.store.layer_dir(k) / "diff" for k in rec["layers"]]
        layers = [d for d in layers if d.exists() and any(d.iterdir())]
        rootfs = self.store.base_dir(rec["base"]["key"]) / "rootfs"
        return BuiltImage(image_id, rootfs, layers, ImageState(**rec["state"]))

    # ------------------------------------------------------------------ bases

    def base(
        self, base: api_pb2.ImageBase, log: Log, secrets: dict[str, str] | None = None, scope: str = ""
    ) -> tuple[str, Path, ImageState, dict[str, Any]]:
        """The base's key, root, state and description, built if missing. A public base is
        shared by every scope; one pulled with credentials (a private registry's) is not."""
        if base.kind == "debian":
            from ...image import debian_suite

            suite = debian_suite(base.python_version)
            key = digest("debian", suite, BASE_RECIPE, *ubuntu.extra_packages(suite))
            info: dict[str, Any] = {"kind": "debian", "suite": suite, "python": base.python_version}
        elif base.kind == "registry":
            key = digest("registry", base.ref, *(["scope", scope] if scope and base.secret_ids else []))
            info = {"kind": "registry", "ref": base.ref}
        else:
            raise InvalidError(f"unknown image base kind {base.kind!r}")
        if base.force_build:  # force_build=True: a key no cached base has (image.py force_token)
            key = digest(key, "force_build", base.force_build)
        info["key"] = key
        final = self.store.base_dir(key)
        if final.exists():
            log(f"Base {_base_name(info)} (cached)")
        else:
            log(f"Base {_base_name(info)}: building")
            t0 = time.monotonic()
            with self.store.staging(final) as tmp:
                rootfs = tmp / "rootfs"
                rootfs.mkdir()
                state = (
                    self._debian(suite, rootfs, log)
                    if base.kind == "debian"
                    else self._registry(base.ref, rootfs, log, secrets or {})
                )
                _prepare_rootfs(rootfs)
                state.python = _find_python(rootfs, state)
                self.store.write_json(tmp / "base.json", {**info, "state": asdict(state), "size": du(rootfs)})
            log(f"  done in {time.monotonic() - t0:.1f}s")
        meta = json.loads((final / "base.json").read_text())
        return key, final / "rootfs", ImageState(**meta["state"]), info

    def _debian(self, suite: str, rootfs: Path, log: Log) -> ImageState:
        if shutil.which("mmdebstrap") is None:
            raise RuntimeError("building Debian images needs mmdebstrap on the worker (apt-get install mmdebstrap)")
        packages = ",".join([DEBIAN_PACKAGES, *ubuntu.extra_packages(suite)])
        argv = ["mmdebstrap", "--variant=minbase", f"--include={packages}", suite, str(rootfs)]
        if suite in ubuntu.UBUNTU_SUITES:  # Python 3.10 and 3.12 (ubuntu.py)
            argv.insert(1, f"--keyring={ubuntu.archive_keyring(self.store.root / 'keyrings')}")
            argv += ubuntu.sources(suite)
        else:
            argv += debian_sources(suite)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        tail: list[str] = []
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            tail = [*tail[-config.IMAGE_STEP_TAIL_LINES :], line]
            log(f"  | {line}")
        if proc.wait() != 0:
            raise StepError(f"building the Debian {suite} base failed", " ".join(argv), tail)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        return ImageState(env=env, workdir="/root")

    def _registry(self, ref: str, rootfs: Path, log: Log, secrets: dict[str, str]) -> ImageState:
        credentials = None
        if "REGISTRY_USERNAME" in secrets:  # from_registry(secret=...); else fetch_image reads the worker's env
            credentials = (secrets["REGISTRY_USERNAME"], secrets.get("REGISTRY_PASSWORD", ""))
        oci = fetch_image(
            ref,
            rootfs,
            log=lambda line: log(f"  | {line}"),
            cache_dir=self.store.root / "oci-blobs",
            credentials=credentials,
            mirrors=self.registry_mirrors,
        )
        env = dict(item.split("=", 1) for item in oci.env if "=" in item)
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        return ImageState(env=env, workdir=oci.workdir or "/root", entrypoint=list(oci.entrypoint), cmd=list(oci.cmd))

    # ------------------------------------------------------------------ runtime packages

    def runtime_deps(self, built: BuiltImage, log: Log, names: tuple[str, ...] = deps.RUNTIME_DISTS) -> Path:
        """The directory of the SDK's dependencies (`names` and what they require, deps.py) for this
        image's Python, made once."""
        version = built.state.env.get("NANO_MODAL_PYTHON_VERSION", "")
        key = digest("deps", version, json.dumps(sorted(deps.closure(names).items())))
        final = self.store.root / "deps" / key
        if final.exists():
            return final
        final.parent.mkdir(exist_ok=True)
        with self.store.staging(final) as tmp:
            if version == f"{sys.version_info.major}.{sys.version_info.minor}":
                deps.copy_from_host(tmp, log, names)
            else:
                log(f"Installing nano-modal's runtime packages for Python {version or '?'}")
                self._pip_deps(built, tmp, log, names)
        return final

    def _pip_deps(self, built: BuiltImage, dest: Path, log: Log, names: tuple[str, ...]) -> None:
        # A scratch overlay, removed whatever happens: only what pip wrote moves on, into `dest`.
        # (It was a staging directory once, which on success was renamed into tmp/ and left there.)
        scratch = Path(tempfile.mkdtemp(prefix=f"{dest.name}-pip-", dir=dest.parent))
        try:
            diff, work, merged = scratch / "diff", scratch / "work", scratch / "merged"
            diff.mkdir()
            work.mkdir()
            mount_overlay([*reversed(built.layers), built.rootfs], merged, diff, work)
            try:
                env = {**built.state.env, **clean_pip_env()}
                code, tail = run_in_root(merged, deps.pip_command("/nano-modal-deps", names), env, "/", log, 30)
            finally:
                unmount(merged)
            if code != 0:
                raise StepError("installing nano-modal's runtime packages failed", "pip install", tail)
            for entry in (diff / "nano-modal-deps").iterdir():
                shutil.move(str(entry), dest / entry.name)
        finally:
            remove_tree(scratch)


def debian_sources(suite: str) -> list[str]:
    """The release with its point updates and security fixes (Python's included)."""
    mirror, security = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    return [f"deb {mirror} {suite} main", f"deb {mirror} {suite}-updates main", f"deb {security} {suite}-security main"]


def clean_pip_env() -> dict[str, str]:
    """pip inside images: no host pip configuration, the host's CA bundle (copied in at /etc/ssl)."""
    return {
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
        "PIP_BREAK_SYSTEM_PACKAGES": "1",
        "UV_BREAK_SYSTEM_PACKAGES": "1",  # `uv pip install` into the image's own Python, as pip
        "PIP_NO_INPUT": "1",
        "SSL_CERT_FILE": HOST_CA_BUNDLE,
        "REQUESTS_CA_BUNDLE": HOST_CA_BUNDLE,
        "PIP_CERT": HOST_CA_BUNDLE,
        "HOME": "/root",
        "DEBIAN_FRONTEND": "noninteractive",
    }


def _prepare_rootfs(rootfs: Path) -> None:
    """HTTPS from inside images must trust what the host trusts (its proxy's CA included);
    pip may install into the system Python, as in Modal's images."""
    certs = rootfs / "etc/ssl/certs"
    certs.mkdir(parents=True, exist_ok=True)
    if os.path.exists(HOST_CA_BUNDLE):
        target = certs / "ca-certificates.crt"
        if target.is_symlink():
            target.unlink()
        shutil.copyfile(HOST_CA_BUNDLE, target)
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    (rootfs / "root").mkdir(exist_ok=True)


def _find_python(rootfs: Path, state: ImageState) -> str:
    """The image's python3, and its version (recorded in the image's environment)."""
    for directory in state.env.get("PATH", "").split(":"):
        for name in ("python3", "python"):
            candidate = rootfs / directory.lstrip("/") / name
            if candidate.exists() or candidate.is_symlink():
                version = _python_version(rootfs, candidate)
                state.env["NANO_MODAL_PYTHON_VERSION"] = version
                return f"{directory.rstrip('/')}/{name}"
    raise InvalidError("the image has no python3 on its PATH: functions cannot run in it")


def _python_version(rootfs: Path, candidate: Path) -> str:
    """major.minor from the interpreter's name (python3 -> python3.11) or its lib directory."""
    target = os.readlink(candidate) if candidate.is_symlink() else candidate.name
    name = Path(target).name
    if name.startswith("python3."):
        return name.removeprefix("python")
    libs = sorted(rootfs.glob("usr/local/lib/python3.*")) or sorted(rootfs.glob("usr/lib/python3.*"))
    return libs[-1].name.removeprefix("python") if libs else ""


def _mount_source(tree: Path, step: api_pb2.ImageStep) -> tuple[Path, str]:
    remote = step.args[1]
    if step.options.get("file"):
        return next(tree.iterdir()), remote
    return tree, remote


def _base_name(info: dict[str, Any]) -> str:
    if info["kind"] == "debian":
        distribution = "ubuntu" if info["suite"] in ubuntu.UBUNTU_SUITES else "debian"
        return f"{distribution} {info['suite']} (python {info['python']})"
    return str(info["ref"])
