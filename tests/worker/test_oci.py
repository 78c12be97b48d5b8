"""Fetching images: from an OCI layout, a `docker save` tarball, and a real registry on loopback.

The images are built in the tests (tests/worker/oci_fixtures) with true digests; the registry is
Debian's `docker-registry` (CNCF Distribution), fed with plain registry API calls.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.exception import AuthError, InvalidError, NotFoundError
from nano_modal.worker.images.oci import OciConfig, RegistryRef, fetch_image
from tests.conftest import start_server, start_worker, stop
from tests.helpers import run_script
from tests.worker._drive import require
from tests.worker.oci_fixtures import (
    BUSYBOX,
    HOST_ARCH,
    HOST_PYTHON,
    MT_INDEX,
    Blob,
    Image,
    Registry,
    TokenServer,
    make_image,
    make_python_image,
    make_tar,
    write_docker_archive,
    write_oci_layout,
)

needs_registry = pytest.mark.skipif(
    shutil.which("docker-registry") is None, reason="docker-registry not installed (apt-get install docker-registry)"
)


class Log(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def check_rootfs(rootfs: Path, config: OciConfig) -> None:
    """What make_image() builds, after its three layers and their whiteouts."""
    assert (rootfs / "etc/hello.txt").read_text() == "hello from layer 3\n"
    assert not (rootfs / "etc/gone.txt").exists(), "file whiteout not applied"
    assert sorted(os.listdir(rootfs / "opaque")) == ["new.txt"], "opaque whiteout not applied"
    assert not any(name.startswith(".wh.") for _, _, files in os.walk(rootfs) for name in files)
    assert os.readlink(rootfs / "bin/sh") == "busybox"
    assert (rootfs / "etc/hello-link").read_text() == "hello from layer 1\n"  # a hard link to the old file
    assert stat.S_IMODE((rootfs / "bin/busybox").stat().st_mode) == 0o755
    assert (rootfs / "work").is_dir()  # the WorkingDir: made by fetch_image when no layer has it
    if os.geteuid() == 0:
        assert stat.S_ISCHR((rootfs / "dev/null").lstat().st_mode)
    else:
        assert not (rootfs / "dev/null").exists()
    if BUSYBOX:  # the unpacked binary runs
        out = subprocess.run([rootfs / "bin/busybox", "cat", rootfs / "etc/hello.txt"], capture_output=True)
        assert out.stdout == b"hello from layer 3\n"
    assert config == OciConfig(
        env=["PATH=/bin", "GREETING=hi"], workdir="/work", entrypoint=["/bin/sh", "-c"], cmd=["echo $GREETING"]
    )


@pytest.fixture(scope="module")
def image() -> Image:
    return make_image()


def test_oci_layout(image: Image, tmp_path: Path) -> None:
    layout = write_oci_layout(image, tmp_path / "layout", tag="v1")
    log = Log()
    config = fetch_image(f"oci:{layout}:v1", tmp_path / "rootfs", log=log)
    check_rootfs(tmp_path / "rootfs", config)
    assert len([line for line in log if line.startswith("layer ")]) == 3
    config = fetch_image(f"oci:{layout}", tmp_path / "rootfs2", log=log)  # the only image: no tag needed
    check_rootfs(tmp_path / "rootfs2", config)
    with pytest.raises(NotFoundError, match=r"no tag 'v2'.*'v1'"):
        fetch_image(f"oci:{layout}:v2", tmp_path / "rootfs3", log=log)


def test_oci_layout_corrupt_blob(image: Image, tmp_path: Path) -> None:
    layout = write_oci_layout(image, tmp_path / "layout")
    layer = layout / "blobs/sha256" / image.layers[1].digest.split(":")[1]
    layer.write_bytes(gzip.compress(make_tar([("evil.txt", "file", b"x")])))
    with pytest.raises(InvalidError, match="digest mismatch"):
        fetch_image(f"oci:{layout}", tmp_path / "rootfs", log=Log())


def test_docker_archive(image: Image, tmp_path: Path) -> None:
    archive = write_docker_archive(image, tmp_path / "img.tar", repo_tag="test/img:v1")
    check_rootfs(tmp_path / "a", fetch_image(f"docker-archive:{archive}", tmp_path / "a", log=Log()))
    check_rootfs(tmp_path / "b", fetch_image(f"docker-archive:{archive}:test/img:v1", tmp_path / "b", log=Log()))
    with pytest.raises(NotFoundError, match="no image tagged 'test/img:v2'"):
        fetch_image(f"docker-archive:{archive}:test/img:v2", tmp_path / "c", log=Log())
    with pytest.raises(NotFoundError, match="no such file"):
        fetch_image(f"docker-archive:{tmp_path}/missing.tar", tmp_path / "d", log=Log())


@pytest.mark.parametrize(
    "entries",
    [
        [("../escape.txt", "file", b"x")],
        [("etc/../../escape.txt", "file", b"x")],
        # a symlink out of the root, then a file through it: lands inside the root instead
        [("out", "symlink", "/ESCAPE_DIR"), ("out/escape.txt", "file", b"x")],
        [("up", "symlink", "../../../.."), ("up/escape.txt", "file", b"x")],
    ],
)
def test_layer_cannot_escape_root(tmp_path: Path, entries: list[tuple[str, str, object]]) -> None:
    image = make_image([entries])
    layout = write_oci_layout(image, tmp_path / "layout")
    rootfs = tmp_path / "deep/er/rootfs"
    try:
        fetch_image(f"oci:{layout}", rootfs, log=Log())
    except InvalidError as e:
        assert "outside the image root" in str(e)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "deep/escape.txt").exists()
    assert not Path("/ESCAPE_DIR").exists()
    found = [os.path.relpath(os.path.join(d, f), tmp_path) for d, _, fs in os.walk(tmp_path) for f in fs]
    assert all(not f.endswith("escape.txt") or f.startswith("deep/er/rootfs/") for f in found), found


@pytest.mark.parametrize(
    ("name", "message"),
    [("../../x", "'../../x' points outside the image root"), ("a/.wh...", "whiteout 'a/.wh...' points outside")],
)
def test_traversal_is_an_error(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "keep").mkdir()
    layout = write_oci_layout(make_image([[("a/", "dir", None), (name, "file", b"")]]), tmp_path / "layout")
    with pytest.raises(InvalidError, match=re.escape(message)):
        fetch_image(f"oci:{layout}", tmp_path / "rootfs", log=Log())
    assert (tmp_path / "keep").is_dir() and (tmp_path / "layout").is_dir()


def test_diff_id_checked(image: Image, tmp_path: Path) -> None:
    config = json.loads(image.config.data)
    config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
    bad = Image(Blob(json.dumps(config).encode(), image.config.media_type), image.layers, image.layer_tars)
    with pytest.raises(InvalidError, match="does not match the config's diff_id"):
        fetch_image(f"oci:{write_oci_layout(bad, tmp_path / 'layout')}", tmp_path / "rootfs", log=Log())


def test_zstd_without_package_is_clear(tmp_path: Path) -> None:
    pytest.importorskip("nano_modal")  # always there; zstandard must NOT be for this test
    try:
        import zstandard  # type: ignore[import-not-found]  # noqa: F401

        pytest.skip("zstandard is installed")
    except ImportError:
        pass
    image = make_image()
    image.layers[0] = Blob(b"\x28\xb5\x2f\xfd" + b"\0" * 32, image.layers[0].media_type)
    image.__post_init__()
    with pytest.raises(InvalidError, match="zstd-compressed; install the `zstandard` package"):
        fetch_image(f"oci:{write_oci_layout(image, tmp_path / 'layout')}", tmp_path / "rootfs", log=Log())


def test_parse_registry_refs() -> None:
    assert RegistryRef.parse("python:3.11-slim") == RegistryRef("registry-1.docker.io", "library/python", "3.11-slim")
    assert RegistryRef.parse("ghcr.io/a/b") == RegistryRef("ghcr.io", "a/b", "latest")
    assert RegistryRef.parse("localhost:5000/x@sha256:" + "a" * 64).reference == "sha256:" + "a" * 64
    assert RegistryRef.parse("127.0.0.1:5000/test/img:v1") == RegistryRef("127.0.0.1:5000", "test/img", "v1")
    with pytest.raises(InvalidError, match="not a valid repository name"):
        RegistryRef.parse("Bad/Name")


# --- a real registry ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, image: Image) -> Iterator[Registry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    registry = Registry.start(tmp_path_factory.mktemp("registry"))
    registry.push(image, "test/img", "latest")
    yield registry
    registry.stop()


@needs_registry
def test_registry_fetch_and_cache(registry: Registry, image: Image, tmp_path: Path) -> None:
    log = Log()
    config = fetch_image(f"{registry.host}/test/img:latest", tmp_path / "a", log=log, cache_dir=tmp_path / "blobs")
    check_rootfs(tmp_path / "a", config)
    assert sum("downloading" in line for line in log) == 4  # config + 3 layers
    log.clear()
    config = fetch_image(f"{registry.host}/test/img", tmp_path / "b", log=log, cache_dir=tmp_path / "blobs")
    check_rootfs(tmp_path / "b", config)
    assert not any("downloading" in line for line in log), log
    by_digest = f"{registry.host}/test/img@{image.manifest.digest}"
    check_rootfs(tmp_path / "c", fetch_image(by_digest, tmp_path / "c", log=log))


@needs_registry
def test_registry_index_picks_host_platform(registry: Registry, image: Image, tmp_path: Path) -> None:
    other_arch = "arm64" if HOST_ARCH == "amd64" else "amd64"
    other = make_image(env=["PATH=/bin", "WRONG=platform"], arch=other_arch)
    registry.push(other, "test/multi", "other")
    registry.push(image, "test/multi", "host")
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            other.manifest.descriptor(platform={"os": "linux", "architecture": other_arch}),
            {**image.manifest.descriptor(), "platform": {"os": "unknown", "architecture": "unknown"}},
            image.manifest.descriptor(platform={"os": "linux", "architecture": HOST_ARCH}),
        ],
    }
    registry.put_manifest("test/multi", "latest", Blob(json.dumps(index).encode(), MT_INDEX))
    config = fetch_image(f"{registry.host}/test/multi:latest", tmp_path / "rootfs", log=Log())
    check_rootfs(tmp_path / "rootfs", config)

    index["manifests"] = index["manifests"][:1]
    registry.put_manifest("test/multi", "foreign", Blob(json.dumps(index).encode(), MT_INDEX))
    with pytest.raises(InvalidError, match=f"no linux/{HOST_ARCH} image in its index"):
        fetch_image(f"{registry.host}/test/multi:foreign", tmp_path / "r2", log=Log())


@needs_registry
def test_registry_missing_tag_and_repo(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="has no tag or digest 'nope' in repository 'test/img'"):
        fetch_image(f"{registry.host}/test/img:nope", tmp_path / "a", log=Log())
    with pytest.raises(NotFoundError, match="repository 'test/absent'"):
        fetch_image(f"{registry.host}/test/absent", tmp_path / "b", log=Log())


@needs_registry
def test_registry_wrong_digest(registry: Registry, tmp_path: Path) -> None:
    """The registry serves other bytes than the digest names (its storage corrupted on disk)."""
    image = make_image([[("a.txt", "file", b"a" * 1000)]])
    registry.push(image, "test/corrupt", "v1")
    hexdigest = image.layers[0].digest.split(":")[1]
    data = registry.root / "storage/docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
    data.write_bytes(bytes(len(image.layers[0].data)))
    cache = tmp_path / "blobs"
    with pytest.raises(InvalidError, match=f"blob {image.layers[0].digest} has digest sha256:"):
        fetch_image(f"{registry.host}/test/corrupt:v1", tmp_path / "a", log=Log(), cache_dir=cache)
    assert not (cache / "sha256" / hexdigest).exists()
    assert os.listdir(cache / "sha256") == [image.config.digest.split(":")[1]]  # no partial file left


@needs_registry
def test_registry_bearer_token_auth(image: Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry with token auth: 401 + Bearer challenge -> token server (Basic auth) -> token."""
    pytest.importorskip("cryptography")
    tokens = TokenServer(tmp_path, "alice", "s3cret")
    registry = Registry.start(tmp_path, auth=tokens.registry_auth())
    try:
        registry.token = tokens.token(["repository:test/private:pull,push"])
        registry.push(image, "test/private", "latest")
        ref = f"{registry.host}/test/private:latest"
        with pytest.raises(AuthError, match=r"token server .* said 401"):
            fetch_image(ref, tmp_path / "a", log=Log())
        with pytest.raises(AuthError):
            fetch_image(ref, tmp_path / "b", log=Log(), credentials=("alice", "wrong"))
        check_rootfs(tmp_path / "c", fetch_image(ref, tmp_path / "c", log=Log(), credentials=("alice", "s3cret")))
        monkeypatch.setenv("REGISTRY_USERNAME", "alice")
        monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret")
        check_rootfs(tmp_path / "d", fetch_image(ref, tmp_path / "d", log=Log()))
    finally:
        registry.stop()
        tokens.stop()


# --- end to end: Image.from_registry / Image.from_dockerfile on a bwrap worker -------------------

E2E_APP = """
import json, sys
import nano_modal

ref, dockerfile = sys.argv[1], sys.argv[2]
app = nano_modal.App("oci-e2e")


# serialized=True: the functions travel by value, so containers do not import this file, whose
# module-level code reads the command line (Modal's own escape hatch for such scripts).
@app.function(image=nano_modal.Image.from_registry(ref).env({"STEP": "mine"}), serialized=True)
def from_registry() -> dict:
    import os, sys
    keys = ("FROM_IMAGE", "STEP")
    return {"python": sys.version.split()[0], "cwd": os.getcwd(), **{k: os.environ.get(k) for k in keys}}


@app.function(image=nano_modal.Image.from_dockerfile(dockerfile), serialized=True)
def from_dockerfile() -> dict:
    import os
    return {
        "copied": open("/app/data.txt").read(),
        "context": sorted(os.listdir("/context")),
        "ran": open("/built.txt").read(),
        "cwd": os.getcwd(),
        "MODE": os.environ.get("MODE"),
        "PATH": os.environ.get("PATH"),
    }


if __name__ == "__main__":
    with app.run():  # the build log shows in the test's output when it fails
        print("RESULT " + json.dumps({"registry": from_registry.remote(), "dockerfile": from_dockerfile.remote()}))
"""

DOCKERFILE_E2E = """\
FROM {ref}
ARG MODE=prod
ENV MODE=$MODE PATH=/opt/tools:$PATH
WORKDIR /app
COPY data.txt ./
COPY . /context/
RUN echo "built in $MODE by $(id -u)" > /built.txt
"""


@needs_registry
@pytest.mark.skipif(not HOST_PYTHON.exists() or not BUSYBOX, reason="needs Debian's python3.11 and busybox")
def test_from_registry_and_dockerfile_end_to_end(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python image pushed to the registry runs functions, directly and as a Dockerfile's FROM."""
    require("bwrap")
    from nano_modal.worker.images import deps

    runtime_libs = [p for name in deps.closure() for p in _shared_objects(name)]
    registry.push(make_python_image(runtime_libs), "test/py", "3.11")
    ref = f"{registry.host}/test/py:3.11"
    context = tmp_path / "context"
    (context / "cache").mkdir(parents=True)
    (context / "cache/x.pyc").write_bytes(b"")
    (context / "data.txt").write_text("from the build context\n")
    (context / "Dockerfile").write_text(DOCKERFILE_E2E.format(ref=ref))
    (context / ".dockerignore").write_text("cache\nDockerfile\n")
    # A cluster of its own, with its own images directory: the registry's port (so the base) is new each run
    with bwrap_cluster(tmp_path, monkeypatch) as env:
        out = run_script(tmp_path, E2E_APP, ref, str(context / "Dockerfile"), env=env, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    # Debian's 3.11.2 from the image, not the test's own interpreter; the image's Env and WorkingDir apply
    assert result["registry"] == {"python": "3.11.2", "cwd": "/srv", "FROM_IMAGE": "yes", "STEP": "mine"}
    assert result["dockerfile"] == {
        "copied": "from the build context\n",
        "context": [".dockerignore", "data.txt"],  # cache/ and the Dockerfile are in .dockerignore
        "ran": "built in prod by 0\n",
        "cwd": "/app",
        "MODE": "prod",
        "PATH": "/opt/tools:/usr/local/bin:/usr/bin:/bin",
    }


def _shared_objects(distribution: str) -> list[Path]:
    import importlib.metadata as md

    dist = md.distribution(distribution)
    base = Path(str(dist.locate_file("")))
    return [base / f for f in dist.files or [] if f.name.endswith(".so")]


@needs_registry
def test_registry_over_tls(image: Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS first, verified against the CA bundle (SSL_CERT_FILE here); no silent HTTP when TLS works."""
    pytest.importorskip("cryptography")
    registry = Registry.start(tmp_path, tls=True)
    try:
        registry.push(image, "test/tls", "latest")
        ref = f"{registry.host}/test/tls:latest"
        # the test CA is not trusted: HTTPS fails, loopback falls back to HTTP, which a TLS server refuses
        with pytest.raises(OSError, match=r"400: Client sent an HTTP.*HTTPS failed.*CERTIFICATE_VERIFY_FAILED"):
            fetch_image(ref, tmp_path / "a", log=Log())
        monkeypatch.setenv("SSL_CERT_FILE", str(registry.ca))
        log = Log()
        check_rootfs(tmp_path / "b", fetch_image(ref, tmp_path / "b", log=log))
        assert not any("plain HTTP" in line for line in log), log
    finally:
        registry.stop()


def test_shell_in_an_oci_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nano-modal shell --image REF`: a shell in a sandbox in that image (here an OCI layout)."""
    require("bwrap")
    layout = write_oci_layout(make_python_image(), tmp_path / "layout")
    with bwrap_cluster(tmp_path, monkeypatch) as env:
        probe = "echo from=$FROM_IMAGE cwd=$(pwd); python3 -c 'import sys; print(sys.executable)'"
        shell = [sys.executable, "-m", "nano_modal.cli", "shell", "--image", f"oci:{layout}", "--cmd", probe]
        done = subprocess.run(shell, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "from=yes cwd=/srv" in done.stdout and "/usr/bin/python3" in done.stdout
        both = subprocess.run([*shell[:4], "x.py::f", *shell[4:]], env=env, capture_output=True, text=True)
        assert both.returncode != 0 and "not both" in both.stdout + both.stderr


@contextlib.contextmanager
def bwrap_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A server and a bwrap worker with an images directory of their own; the clients' environment."""
    monkeypatch.setenv("NANO_MODAL_IMAGES_DIR", str(tmp_path / "images"))
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path, token)
    worker = start_worker(url, token, tmp_path / "worker.log", "--runtime", "bwrap")
    try:
        yield {**os.environ, "NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": token}
    finally:
        stop(worker)
        stop(server)


@needs_registry
@pytest.mark.skipif(not HOST_PYTHON.exists() or not BUSYBOX, reason="needs Debian's python3.11 and busybox")
@pytest.mark.parametrize("via_env", [False, True])
def test_from_registry_force_build_pulls_the_base_again(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via_env: bool
) -> None:
    """Image.from_registry(force_build=True), or NANO_MODAL_FORCE_BUILD=1 (Modal's
    MODAL_FORCE_BUILD): the worker does not take the base from its cache."""
    import asyncio

    from nano_modal import Image as SdkImage
    from nano_modal.worker.images.builder import ImageBuilder
    from nano_modal.worker.images.store import Store

    store = Store(tmp_path / "images")
    registry.push(make_python_image(), "test/py-force", "1")  # a base must hold python3
    ref = f"{registry.host}/test/py-force:1"

    def base_line(image: SdkImage) -> str:
        lines: list[str] = []

        async def go() -> None:
            spec = await image.to_proto(None)  # type: ignore[arg-type]  # no step uploads anything
            await ImageBuilder(store).ensure(spec, registry_download_unused, lines.append)

        asyncio.run(go())
        return next(line for line in lines if line.startswith("Base "))

    assert base_line(SdkImage.from_registry(ref)).endswith(": building")
    assert base_line(SdkImage.from_registry(ref)).endswith("(cached)")
    if via_env:
        monkeypatch.setenv("NANO_MODAL_FORCE_BUILD", "1")
        forced = SdkImage.from_registry(ref)
    else:
        forced = SdkImage.from_registry(ref, force_build=True)
    assert base_line(forced).endswith(": building")
    monkeypatch.delenv("NANO_MODAL_FORCE_BUILD", raising=False)
    assert base_line(SdkImage.from_registry(ref)).endswith("(cached)")  # the plain base's cache is kept


async def registry_download_unused(blob_id: str) -> bytes:
    raise AssertionError(f"an image without steps downloads no blob ({blob_id})")
