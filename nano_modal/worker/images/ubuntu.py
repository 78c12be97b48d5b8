"""Ubuntu releases as `debian_slim` bases, for the Python versions no Debian release ships as
its python3: 3.10 (jammy) and 3.12 (noble). Built by mmdebstrap like the Debian ones, from
Ubuntu's apt archive (a package registry, reachable where deb.debian.org is).

mmdebstrap checks the archive's signatures with Ubuntu's archive keyring, which Debian
workers do not carry: it comes from the ubuntu-keyring package in Ubuntu's own archive,
checked against the SHA-256 pinned here (from noble's signed Packages index), so the trust
rests on this constant, not on the download.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import urllib.request
from pathlib import Path

UBUNTU_SUITES = ("jammy", "noble")
MIRROR = "http://archive.ubuntu.com/ubuntu"
SECURITY_MIRROR = "http://security.ubuntu.com/ubuntu"
# python3-pip is in universe.
COMPONENTS = "main universe"
KEYRING_DEB = f"{MIRROR}/pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb"
KEYRING_DEB_SHA256 = "36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8"
KEYRING_IN_DEB = "./usr/share/keyrings/ubuntu-archive-keyring.gpg"
DOWNLOAD_TIMEOUT = 60.0


def extra_packages(suite: str) -> list[str]:
    """What an Ubuntu base needs beyond a Debian one: libstdc++, which Debian's python3 brings
    along and the SDK's grpcio needs."""
    return ["libstdc++6"] if suite in UBUNTU_SUITES else []


def sources(suite: str) -> list[str]:
    """The release with its updates and security fixes."""
    return [
        f"deb {MIRROR} {suite} {COMPONENTS}",
        f"deb {MIRROR} {suite}-updates {COMPONENTS}",
        f"deb {SECURITY_MIRROR} {suite}-security {COMPONENTS}",
    ]


def archive_keyring(cache_dir: Path) -> Path:
    """Ubuntu's archive keyring, fetched once into `cache_dir` and checked against its pin."""
    keyring = cache_dir / "ubuntu-archive-keyring.gpg"
    if keyring.exists():
        return keyring
    with urllib.request.urlopen(KEYRING_DEB, timeout=DOWNLOAD_TIMEOUT) as response:
        deb = response.read()
    if hashlib.sha256(deb).hexdigest() != KEYRING_DEB_SHA256:
        raise RuntimeError(f"{KEYRING_DEB} is not the pinned ubuntu-keyring package (SHA-256 mismatch)")
    # A .deb is an ar archive whose data.tar holds the files; dpkg-deb (there with mmdebstrap) reads it.
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", "/dev/stdin"], input=deb, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
        member = tar.extractfile(KEYRING_IN_DEB)
        if member is None:
            raise RuntimeError(f"{KEYRING_DEB} holds no {KEYRING_IN_DEB}")
        content = member.read()
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = keyring.with_suffix(".partial")
    partial.write_bytes(content)
    partial.replace(keyring)
    return keyring
