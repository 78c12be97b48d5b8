"""Fetch an OCI / Docker image and unpack it into a root filesystem.

Three sources, chosen by the reference's prefix:

- `oci:/path/to/layout[:tag]`: an OCI image layout directory (`index.json`, `blobs/`).
- `docker-archive:/path/to/image.tar[:name:tag]`: a `docker save` tarball.
- anything else, `[host[:port]/]name[:tag][@sha256:...]`: a registry speaking the Docker Registry
  HTTP API v2 (Docker Hub when no host is given). HTTPS with the system CA bundle (or `SSL_CERT_FILE`);
  plain HTTP when that fails for a loopback host or with `insecure=True`. Bearer-token and Basic auth
  from the 401 challenge.

Layers are applied in order with OCI whiteouts, never writing outside `dest` (oci_layers.py). Every blob is
checked against its sha256 digest (layers also against the config's `diff_ids`); registry blobs are
cached by digest in `cache_dir`, so fetching the same image again downloads nothing.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import platform
import re
import ssl
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from nano_modal.exception import AuthError, InvalidError, NotFoundError

from .oci_layers import COPY_CHUNK, apply_layer, make_workdir
from .registry_refs import Mirror, Mirrors, RegistryRef, is_loopback, pull_via_mirror

Log = Callable[[str], None]
Json = dict[str, Any]

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join([MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST])
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
# Modal's names for registry credentials (the keys of the Secret passed to `Image.from_registry`).
ENV_REGISTRY_USERNAME = "REGISTRY_USERNAME"
ENV_REGISTRY_PASSWORD = "REGISTRY_PASSWORD"
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# `platform.machine()` -> the OCI architecture name (and variant) of this host.
ARCHITECTURES = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armv7l": ("arm", "v7"),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


@dataclass
class OciConfig:
    """The parts of an image's config that decide how its containers start."""

    env: list[str] = field(default_factory=list)  # "KEY=value" strings, as in the OCI config
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str = ""

    @classmethod
    def from_image_config(cls, doc: Json) -> OciConfig:
        c = doc.get("config") or {}
        return cls(
            env=list(c.get("Env") or []),
            workdir=c.get("WorkingDir") or "/",
            entrypoint=list(c.get("Entrypoint") or []),
            cmd=list(c.get("Cmd") or []),
            user=c.get("User") or "",
        )


def fetch_image(
    ref: str,
    dest: Path,
    *,
    log: Log,
    cache_dir: Path | None = None,
    credentials: tuple[str, str] | None = None,
    insecure: bool = False,
    mirrors: Mirrors | None = None,
) -> OciConfig:
    """Unpack image `ref` into the empty directory `dest` and return its config. A registry image
    comes from its registry's mirror in `mirrors` when it has one (registry_refs.py).

    >>> fetch_image("oci:/srv/layouts/app:v1", Path("/tmp/rootfs"), log=print)  # doctest: +SKIP
    OciConfig(env=['PATH=/usr/bin:/bin'], workdir='/', entrypoint=[], cmd=['sh'], user='')
    """
    dest.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if ref.startswith("oci:"):
            config_doc, layers = _OciLayout(ref).resolve()
        elif ref.startswith("docker-archive:"):
            config_doc, layers = stack.enter_context(_DockerArchive(ref)).resolve()
        else:

            def pull(mirror: Mirror | None) -> tuple[Json, list[tuple[str, Opener]]]:
                registry = _Registry(ref, cache_dir, credentials, insecure, log, mirror)
                return stack.enter_context(registry).resolve()

            config_doc, layers = pull_via_mirror(ref, mirrors or {}, pull, log)
        diff_ids = list((config_doc.get("rootfs") or {}).get("diff_ids") or [])
        if diff_ids and len(diff_ids) != len(layers):
            raise InvalidError(f"image {ref}: {len(layers)} layers but {len(diff_ids)} diff_ids in its config")
        for i, (name, opener) in enumerate(layers):
            log(f"layer {i + 1}/{len(layers)}: {name}")
            with opener() as blob:
                where = f"image {ref} layer {name}"
                apply_layer(blob, dest, diff_id=diff_ids[i] if diff_ids else None, where=where, log=log)
    config = OciConfig.from_image_config(config_doc)
    # Container runtimes create a missing working directory (an image's layers need not hold it)
    make_workdir(dest, config.workdir, f"image {ref} WorkingDir")
    return config


# --- sources ---------------------------------------------------------------------------------

Opener = Callable[[], IO[bytes]]  # opens one layer blob (closed by the caller)


class _Source:
    """Where an image comes from: `resolve()` gives its config and its layers (name, opener), in order."""

    def resolve(self) -> tuple[Json, list[tuple[str, Opener]]]:
        raise NotImplementedError


class _ManifestSource(_Source):
    """A source that stores manifests and blobs by digest (registry, OCI layout)."""

    ref: str

    def blob_path(self, digest: str, size: int | None) -> Path:
        raise NotImplementedError

    def manifest(self, reference: str) -> bytes:
        raise NotImplementedError

    def open_blob(self, digest: str, size: int | None) -> IO[bytes]:
        return self.blob_path(digest, size).open("rb")

    def resolve_manifest(self, doc: Json) -> tuple[Json, list[tuple[str, Opener]]]:
        """From an index or a manifest to the image's config and layers (picking this host's platform)."""
        for _ in range(4):  # an index may point at another index
            if "manifests" not in doc:
                break
            entry = pick_platform(doc["manifests"], self.ref)
            raw = self.manifest(entry["digest"])
            check_digest(raw, entry["digest"], f"{self.ref} manifest")
            doc = _json(raw, f"{self.ref} manifest {entry['digest']}")
        if "layers" not in doc or "config" not in doc:
            raise InvalidError(f"image {self.ref}: unsupported manifest (mediaType {doc.get('mediaType')!r})")
        config_path = self.blob_path(doc["config"]["digest"], doc["config"].get("size"))
        config_doc = _json(config_path.read_bytes(), f"{self.ref} config")
        layers: list[tuple[str, Opener]] = []
        for layer in doc["layers"]:
            label = f"{layer['digest']} ({_human(layer.get('size'))})"
            layers.append((label, functools.partial(self.open_blob, layer["digest"], layer.get("size"))))
        return config_doc, layers


class _OciLayout(_ManifestSource):
    def __init__(self, ref: str) -> None:
        self.ref = ref
        spec = ref.removeprefix("oci:")
        self.tag = ""
        if not Path(spec).is_dir() and ":" in spec.rsplit("/", 1)[-1]:
            spec, self.tag = spec.rsplit(":", 1)
        self.root = Path(spec)
        if not (self.root / "index.json").is_file():
            raise NotFoundError(f"image {ref}: {self.root} is not an OCI image layout (no index.json)")

    def blob_path(self, digest: str, size: int | None) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        path = self.root / "blobs" / algorithm / hexdigest
        if not path.is_file():
            raise InvalidError(f"image {self.ref}: blob {digest} is missing from the layout")
        with path.open("rb") as f:
            check_digest_stream(f, digest, f"{self.ref} blob")
        return path

    def manifest(self, reference: str) -> bytes:
        return self.blob_path(reference, None).read_bytes()

    def resolve(self) -> tuple[Json, list[tuple[str, Opener]]]:
        index = _json((self.root / "index.json").read_bytes(), f"{self.ref} index.json")
        entries = index.get("manifests") or []
        if self.tag:
            entries = [e for e in entries if _ref_name(e) in (self.tag,) or _ref_name(e).endswith(":" + self.tag)]
            if not entries:
                names = sorted({_ref_name(e) for e in index.get("manifests") or []} - {""})
                raise NotFoundError(f"image {self.ref}: no tag {self.tag!r} in the layout (tags: {names or 'none'})")
        named = {_ref_name(e) for e in entries}
        if len(entries) > 1 and named != {""}:  # several tagged images and no tag asked for
            raise InvalidError(f"image {self.ref}: the layout holds several images {sorted(named)}; add ':tag'")
        if len(entries) == 1:
            raw = self.manifest(entries[0]["digest"])
            return self.resolve_manifest(_json(raw, f"{self.ref} manifest"))
        return self.resolve_manifest({"manifests": entries})  # index.json is itself the platform index


class _DockerArchive(_Source):
    """A `docker save` tarball: `manifest.json` lists each image's config and layer files."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        spec = ref.removeprefix("docker-archive:")
        self.name = ""
        if ".tar:" in spec:  # docker-archive:/path/image.tar:name:tag
            spec, self.name = spec.split(".tar:", 1)
            spec += ".tar"
        self.path = Path(spec)
        if not self.path.is_file():
            raise NotFoundError(f"image {ref}: no such file {self.path}")
        self.tar = tarfile.open(self.path)  # noqa: SIM115 - closed by __exit__

    def __enter__(self) -> _DockerArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tar.close()

    def member(self, name: str) -> IO[bytes]:
        try:
            f = self.tar.extractfile(name)
        except KeyError:
            f = None
        if f is None:
            raise InvalidError(f"image {self.ref}: the archive has no file {name!r}")
        return f

    def resolve(self) -> tuple[Json, list[tuple[str, Opener]]]:
        manifest = json.loads(self.member("manifest.json").read())
        if self.name:
            tag = self.name if ":" in self.name.rsplit("/", 1)[-1] else self.name + ":latest"
            manifest = [m for m in manifest if tag in (m.get("RepoTags") or [])]
            if not manifest:
                raise NotFoundError(f"image {self.ref}: no image tagged {tag!r} in the archive")
        if len(manifest) != 1:
            tags = [t for m in manifest for t in m.get("RepoTags") or []]
            raise InvalidError(f"image {self.ref}: the archive holds {len(manifest)} images {tags}; add ':name:tag'")
        entry = manifest[0]
        config_doc = _json(self.member(entry["Config"]).read(), f"{self.ref} config")
        layers: list[tuple[str, Opener]] = [(name, functools.partial(self.member, name)) for name in entry["Layers"]]
        return config_doc, layers


# --- registry ----------------------------------------------------------------------------------


class _Registry(_ManifestSource):
    def __init__(
        self,
        ref: str,
        cache_dir: Path | None,
        credentials: tuple[str, str] | None,
        insecure: bool,
        log: Log,
        mirror: Mirror | None = None,
    ) -> None:
        self.ref = ref
        self.target = RegistryRef.parse(ref)
        if mirror is not None:  # the same repository and tag or digest, from the mirror's host
            self.target = dataclasses.replace(self.target, host=mirror.host)
        self.tmp: tempfile.TemporaryDirectory[str] | None = None
        if cache_dir is None:  # no cache: the blobs live as long as this fetch
            self.tmp = tempfile.TemporaryDirectory(prefix="nano-modal-blobs-")
            cache_dir = Path(self.tmp.name)
        self.cache_dir = cache_dir
        self.log = log
        user, password = os.environ.get(ENV_REGISTRY_USERNAME), os.environ.get(ENV_REGISTRY_PASSWORD)
        self.credentials = credentials or ((user, password) if user and password else None)
        # Like Docker: HTTPS always first; plain HTTP as the fallback only for loopback and `insecure` ones
        self.http_fallback = insecure or is_loopback(self.target.host)
        self.plain_http = mirror is not None and mirror.plain_http
        self.base = f"{'http' if self.plain_http else 'https'}://{self.target.host}/v2/{self.target.name}"
        self.https_error = ""  # why HTTPS was given up, for the errors that follow
        self.auth_header: str | None = None
        self.client = httpx.Client(verify=ssl.create_default_context(), timeout=HTTP_TIMEOUT, follow_redirects=True)

    def __enter__(self) -> _Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.tmp:
            self.tmp.cleanup()

    @contextlib.contextmanager
    def request(self, path: str, accept: str = "*/*") -> Iterator[httpx.Response]:
        """GET `path`, answering an auth challenge once; yields the (streamed, successful) response."""
        for attempt in range(2):
            headers = {"Accept": accept}
            if self.auth_header:
                headers["Authorization"] = self.auth_header
            try:
                with self.client.stream("GET", self.base + path, headers=headers) as response:
                    if response.status_code == 401 and attempt == 0:
                        self.authenticate(response.headers.get("www-authenticate", ""))
                        continue
                    if response.status_code in (401, 403):
                        raise AuthError(f"image {self.ref}: the registry refused access ({response.status_code})")
                    if response.status_code == 404:
                        what = "tag or digest" if "/manifests/" in path else "blob"
                        raise NotFoundError(
                            f"image {self.ref}: {self.target.host} has no {what} {path.rsplit('/', 1)[-1]!r}"
                            f" in repository {self.target.name!r}"
                        )
                    if response.status_code != 200:
                        response.read()
                        raise OSError(
                            f"image {self.ref}: GET {path} -> {response.status_code}: {response.text[:200].strip()}"
                            + self.https_error
                        )
                    yield response
                    return
            except httpx.TransportError as e:
                raise ConnectionError(f"image {self.ref}: cannot reach registry {self.target.host}: {e}") from e

    def authenticate(self, challenge: str) -> None:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        if scheme.lower() == "basic":
            if not self.credentials:
                raise AuthError(f"image {self.ref}: the registry needs a username and password")
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            self.auth_header = f"Basic {token}"
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise AuthError(f"image {self.ref}: unsupported registry auth challenge {challenge!r}")
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        query.setdefault("scope", f"repository:{self.target.name}:pull")
        try:
            response = self.client.get(params["realm"], params=query, auth=self.credentials)
        except httpx.TransportError as e:
            raise ConnectionError(f"image {self.ref}: cannot reach token server {params['realm']}: {e}") from e
        if response.status_code != 200:
            raise AuthError(f"image {self.ref}: token server {params['realm']} said {response.status_code}")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise AuthError(f"image {self.ref}: token server {params['realm']} returned no token")
        self.auth_header = f"Bearer {token}"

    def manifest(self, reference: str) -> bytes:
        cached = self.cached(reference) if reference.startswith("sha256:") else None
        if cached:
            return cached.read_bytes()
        with self.request(f"/manifests/{reference}", MANIFEST_ACCEPT) as response:
            raw = response.read()
        if reference.startswith("sha256:"):
            check_digest(raw, reference, f"{self.ref} manifest")
            self.store(raw, reference)
        return raw

    def cached(self, digest: str) -> Path | None:
        path = self.cache_dir / digest.replace(":", "/", 1)
        try:
            os.utime(path)  # last use, for whoever prunes the cache by age
        except FileNotFoundError:
            return None
        return path

    def store(self, data: bytes, digest: str) -> None:
        path = self.cache_dir / digest.replace(":", "/", 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        tmp.replace(path)

    def blob_path(self, digest: str, size: int | None) -> Path:
        cached = self.cached(digest)
        if cached:
            self.log(f"  {digest[:19]} cached")
            return cached
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256":
            raise InvalidError(f"image {self.ref}: unsupported digest algorithm in {digest!r}")
        directory = self.cache_dir / algorithm
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{hexdigest}.{uuid.uuid4().hex}"
        self.log(f"  {digest[:19]} downloading {_human(size)}")
        try:
            with self.request(f"/blobs/{digest}") as response, tmp.open("wb") as f:
                hasher = hashlib.sha256()
                for chunk in response.iter_bytes(COPY_CHUNK):
                    hasher.update(chunk)
                    f.write(chunk)
            if hasher.hexdigest() != hexdigest:
                raise InvalidError(f"image {self.ref}: blob {digest} has digest sha256:{hasher.hexdigest()}")
            path = directory / hexdigest
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def choose_scheme(self) -> None:
        """Fall back to plain HTTP when the registry does not speak TLS (loopback / insecure only)."""
        if self.plain_http:  # an http:// mirror: its operator said so
            return
        try:
            self.client.get(f"https://{self.target.host}/v2/")
        except httpx.TransportError as e:
            if not self.http_fallback:
                raise ConnectionError(f"image {self.ref}: cannot reach registry {self.target.host}: {e}") from e
            self.base = f"http://{self.target.host}/v2/{self.target.name}"
            self.https_error = f" (plain HTTP, after HTTPS failed: {e})"
            self.log(f"  {self.target.host}: no HTTPS ({e}); using plain HTTP")

    def resolve(self) -> tuple[Json, list[tuple[str, Opener]]]:
        self.choose_scheme()
        doc = _json(self.manifest(self.target.reference), f"{self.ref} manifest")
        return self.resolve_manifest(doc)


# --- digests and manifests ----------------------------------------------------------------------


def check_digest(data: bytes, digest: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256":
        raise InvalidError(f"{what}: unsupported digest algorithm in {digest!r}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise InvalidError(f"{what}: digest mismatch: expected {digest}, got sha256:{actual}")


def check_digest_stream(f: IO[bytes], digest: str, what: str) -> None:
    hasher = hashlib.sha256()
    while chunk := f.read(COPY_CHUNK):
        hasher.update(chunk)
    if "sha256:" + hasher.hexdigest() != digest:
        raise InvalidError(f"{what}: digest mismatch: expected {digest}, got sha256:{hasher.hexdigest()}")


def pick_platform(manifests: list[Json], ref: str) -> Json:
    """The entry of an image index for linux on this host's architecture."""
    arch, variant = ARCHITECTURES.get(platform.machine(), (platform.machine(), ""))
    candidates = []
    for entry in manifests:
        p = entry.get("platform")
        if p is None and len(manifests) == 1:
            return entry
        if p and p.get("os") == "linux" and p.get("architecture") == arch:
            candidates.append(entry)
    candidates.sort(key=lambda e: e["platform"].get("variant", "") != variant)
    if not candidates:
        platforms = [e.get("platform") or {} for e in manifests]
        available = sorted({f"{p.get('os')}/{p.get('architecture')}" for p in platforms})
        raise InvalidError(f"image {ref}: no linux/{arch} image in its index (has {', '.join(available)})")
    return candidates[0]


def _ref_name(entry: Json) -> str:
    return str((entry.get("annotations") or {}).get(REF_NAME_ANNOTATION, ""))


def _json(raw: bytes, what: str) -> Json:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidError(f"{what} is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidError(f"{what} is not a JSON object")
    return doc


def _human(size: int | None) -> str:
    if size is None:
        return "? bytes"
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} bytes"
