"""What a registry image reference names, and where a worker pulls it from (its registry or a mirror).

`NANO_MODAL_REGISTRY_MIRRORS="docker.io=http://127.0.0.1:5000,ghcr.io=https://mirror.example"` sends
the pulls of a registry's images to a mirror first: same repository path (Docker Hub's `library/`
kept) and tag or digest; the registry itself only when the mirror lacks the image (oci.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from nano_modal.exception import AuthError, InvalidError, NotFoundError

# The worker setting: comma-separated `registry=URL` pairs.
ENV_REGISTRY_MIRRORS = "NANO_MODAL_REGISTRY_MIRRORS"
# Where Docker Hub's registry API answers; `docker.io` and `index.docker.io` are its names in refs.
DOCKER_HUB = "registry-1.docker.io"
DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", DOCKER_HUB)
Resolved = TypeVar("Resolved")  # what a pull gives (oci.py: the image's config and layers)


def canonical_host(host: str) -> str:
    """One name per registry, so a mirror set for `docker.io` serves `python:3.12` too."""
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


@dataclass(frozen=True)
class RegistryRef:
    host: str  # host[:port] to connect to
    name: str  # repository, e.g. "library/python"
    reference: str  # tag or digest

    @classmethod
    def parse(cls, ref: str) -> RegistryRef:
        rest, _, digest = ref.partition("@")
        host, slash, path = rest.partition("/")
        if not slash or not ("." in host or ":" in host or host == "localhost"):
            host, path = "docker.io", rest
        tag = ""
        if ":" in path.rsplit("/", 1)[-1]:
            path, tag = path.rsplit(":", 1)
        host = canonical_host(host)
        if host == DOCKER_HUB and "/" not in path:
            path = "library/" + path
        if not re.fullmatch(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", path):
            raise InvalidError(f"image {ref!r}: {path!r} is not a valid repository name")
        if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise InvalidError(f"image {ref!r}: {digest!r} is not a sha256 digest")
        if tag and not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
            raise InvalidError(f"image {ref!r}: {tag!r} is not a valid tag")
        return cls(host, path, digest or tag or "latest")


def is_loopback(host: str) -> bool:
    hostname = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Mirror:
    host: str  # host[:port]
    plain_http: bool  # an http:// URL: the operator says it speaks no TLS, so HTTPS is not tried

    @property
    def url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}"


Mirrors = dict[str, Mirror]  # canonical registry host -> its mirror


def parse_mirrors(text: str) -> Mirrors:
    """`docker.io=http://127.0.0.1:5000,ghcr.io=https://mirror.example` -> {registry: Mirror}."""
    mirrors: Mirrors = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        registry, eq, url = (s.strip() for s in item.partition("="))
        where = f"{ENV_REGISTRY_MIRRORS}: {item!r}"
        if not eq or not registry or not url:
            raise InvalidError(f"{where} is not registry=URL (e.g. docker.io=http://127.0.0.1:5000)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidError(f"{where}: the mirror must be an http:// or https:// URL")
        if parts.path.strip("/") or parts.query or parts.fragment or "@" in parts.netloc:
            # The registry API lives at /v2/ of the mirror's host, as for Docker's registry-mirrors
            raise InvalidError(f"{where}: the mirror URL takes no path, query or credentials")
        key = canonical_host(registry)
        if key in mirrors:
            raise InvalidError(f"{where}: {registry} has a mirror already")
        mirrors[key] = Mirror(parts.netloc, parts.scheme == "http")
    return mirrors


def mirrors_from_env() -> Mirrors:
    """The worker's mirrors, from its environment (read when its image builder starts)."""
    return parse_mirrors(os.environ.get(ENV_REGISTRY_MIRRORS, ""))


def pull_via_mirror(
    ref: str, mirrors: Mirrors, pull: Callable[[Mirror | None], Resolved], log: Callable[[str], None]
) -> Resolved:
    """`pull(mirror)` from the mirror of `ref`'s registry when it has the image, else `pull(None)` from
    the registry itself (as Docker's registry-mirrors: a mirror that lacks it or is down is skipped;
    one that refuses the credentials is an error to fix, not skipped)."""
    origin = RegistryRef.parse(ref).host
    mirror = mirrors.get(origin)
    if mirror is None:
        return pull(None)
    log(f"pulling from mirror {mirror.url} (mirror of {origin})")
    try:
        return pull(mirror)
    except (NotFoundError, OSError) as mirror_error:  # OSError: unreachable, or a server error
        why = str(mirror_error).removeprefix(f"image {ref}: ")
        log(f"mirror {mirror.url} does not have it ({why}); pulling from {origin} itself")
        try:
            return pull(None)
        except (NotFoundError, OSError, AuthError) as e:
            also = str(e).removeprefix(f"image {ref}: ")
            raise type(e)(f"image {ref}: not on mirror {mirror.url} ({why}), nor at {origin} ({also})") from e
