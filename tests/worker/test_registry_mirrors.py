"""A worker's registry mirrors (NANO_MODAL_REGISTRY_MIRRORS): a registry's images come from its mirror
first, from the registry itself only when the mirror lacks them.

The mirrors are loopback `docker-registry`s (tests/worker/oci_fixtures). Docker Hub is made unreachable
(every request to it goes to a dead proxy), so a pull that reaches it fails instead of using the network.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.exception import InvalidError, NotFoundError
from nano_modal.worker.images.oci import fetch_image
from nano_modal.worker.images.registry_refs import DOCKER_HUB, Mirror, parse_mirrors
from tests.helpers import free_port
from tests.worker.oci_fixtures import BUSYBOX, HOST_PYTHON, Registry, make_image, make_python_image

pytestmark = pytest.mark.skipif(
    shutil.which("docker-registry") is None, reason="docker-registry not installed (apt-get install docker-registry)"
)


class Log(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.fixture
def no_docker_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request but loopback ones goes through a proxy nobody listens on: reaching Docker Hub fails."""
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    """(origin, mirror): two loopback registries."""
    (tmp_path / "origin").mkdir()
    (tmp_path / "mirror").mkdir()
    origin = Registry.start(tmp_path / "origin")
    try:
        mirror = Registry.start(tmp_path / "mirror")
        try:
            yield origin, mirror
        finally:
            mirror.stop()
    finally:
        origin.stop()


def test_parse_mirrors() -> None:
    mirrors = parse_mirrors(" docker.io=http://127.0.0.1:5000 , ghcr.io=https://mirror.example ")
    assert mirrors == {DOCKER_HUB: Mirror("127.0.0.1:5000", True), "ghcr.io": Mirror("mirror.example", False)}
    assert parse_mirrors("") == {}
    for bad, message in [
        ("docker.io", "is not registry=URL"),
        ("docker.io=127.0.0.1:5000", "http:// or https:// URL"),
        ("docker.io=http://m.example/v2", "takes no path"),
        ("docker.io=http://a.example,index.docker.io=http://b.example", "has a mirror already"),
    ]:
        with pytest.raises(InvalidError, match=message):
            parse_mirrors(bad)


def test_malformed_setting_stops_the_worker_in_one_line() -> None:
    env = {**os.environ, "NANO_MODAL_REGISTRY_MIRRORS": "docker.io=mirror.example", "NANO_MODAL_TOKEN": "x"}
    argv = [sys.executable, "-m", "nano_modal.worker", "--server", f"127.0.0.1:{free_port()}"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        "nano-modal worker: NANO_MODAL_REGISTRY_MIRRORS: 'docker.io=mirror.example': the mirror must be an"
        " http:// or https:// URL"
    ]


@pytest.mark.skipif(not HOST_PYTHON.exists() or not BUSYBOX, reason="needs Debian's python3.11 and busybox")
def test_from_registry_docker_hub_image_through_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_docker_hub: None
) -> None:
    """from_registry("python:3.12-slim") on a worker whose Docker Hub mirror is the loopback registry:
    built from the mirror's library/python:3.12-slim (a small stand-in), Docker Hub never reached."""
    from nano_modal import Image as SdkImage
    from nano_modal.worker.images.builder import ImageBuilder
    from nano_modal.worker.images.store import Store

    mirror = Registry.start(tmp_path)
    try:
        mirror.push(make_python_image(env=["PATH=/usr/bin:/bin", "FROM_MIRROR=yes"]), "library/python", "3.12-slim")
        monkeypatch.setenv("NANO_MODAL_REGISTRY_MIRRORS", f"docker.io={mirror.url}")
        lines: list[str] = []

        async def build() -> object:
            spec = await SdkImage.from_registry("python:3.12-slim").to_proto(None)  # type: ignore[arg-type]
            return await ImageBuilder(Store(tmp_path / "images")).ensure(spec, no_upload, lines.append)

        built = asyncio.run(build())
    finally:
        mirror.stop()
    assert f"  | pulling from mirror {mirror.url} (mirror of {DOCKER_HUB})" in lines, lines
    assert built.state.env["FROM_MIRROR"] == "yes"  # type: ignore[attr-defined]
    assert (built.rootfs / "usr/bin/busybox").is_file()  # type: ignore[attr-defined]


def test_mirror_first_then_the_registry(registries: tuple[Registry, Registry], tmp_path: Path) -> None:
    origin, mirror = registries
    mirrors = parse_mirrors(f"{origin.host}={mirror.url}")
    on_both = make_image([[("etc/", "dir", None), ("etc/where.txt", "file", b"origin\n")]])
    origin.push(on_both, "test/both", "1")
    mirror.push(make_image([[("etc/", "dir", None), ("etc/where.txt", "file", b"mirror\n")]]), "test/both", "1")
    log = Log()
    fetch_image(f"{origin.host}/test/both:1", tmp_path / "a", log=log, mirrors=mirrors)
    assert (tmp_path / "a/etc/where.txt").read_text() == "mirror\n"
    assert log[0] == f"pulling from mirror {mirror.url} (mirror of {origin.host})"

    origin.push(on_both, "test/origin-only", "1")  # the mirror lacks it: from the registry, and the log says so
    log = Log()
    fetch_image(f"{origin.host}/test/origin-only:1", tmp_path / "b", log=log, mirrors=mirrors)
    assert (tmp_path / "b/etc/where.txt").read_text() == "origin\n"
    fallback = [line for line in log if line.startswith(f"mirror {mirror.url} does not have it")]
    assert fallback and fallback[0].endswith(f"pulling from {origin.host} itself"), log


def test_neither_has_it_names_both(registries: tuple[Registry, Registry], tmp_path: Path) -> None:
    origin, mirror = registries
    mirrors = parse_mirrors(f"{origin.host}={mirror.url}")
    ref = f"{origin.host}/test/nowhere:1"
    with pytest.raises(NotFoundError, match=rf"not on mirror {mirror.url} \(.*\), nor at {origin.host} \(") as e:
        fetch_image(ref, tmp_path / "a", log=Log(), mirrors=mirrors)
    assert str(e.value).count("test/nowhere") >= 2


def test_mirror_down_falls_back(registries: tuple[Registry, Registry], tmp_path: Path) -> None:
    origin, _ = registries
    origin.push(make_image(), "test/img", "1")
    dead = f"http://127.0.0.1:{free_port()}"
    log = Log()
    fetch_image(f"{origin.host}/test/img:1", tmp_path / "a", log=log, mirrors=parse_mirrors(f"{origin.host}={dead}"))
    assert (tmp_path / "a/etc/hello.txt").read_text() == "hello from layer 3\n"
    assert any(line.startswith(f"mirror {dead} does not have it (cannot reach") for line in log), log


async def no_upload(blob_id: str) -> bytes:
    raise AssertionError(f"an image without steps downloads no blob ({blob_id})")
