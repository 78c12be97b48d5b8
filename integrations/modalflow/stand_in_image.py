"""A stand-in for the image modalflow's Modal app starts from, served by a loopback registry.

modalflow's `modal_app.py` builds on `apache/airflow:3.0.6-python3.10` from Docker Hub, then runs
`su -s /bin/bash airflow -c "pip install apache-airflow==3.1.5"` and pip-installs its client. This
script builds, with nano-modal's own image builder, a smaller image that has what those steps need
(Airflow 3.1.5, modalflow 0.3.1 and modal 1.6.4 on Debian's Python 3.11, an `airflow` user,
`/opt/airflow`), pushes it to a `docker-registry` on loopback as that repository and tag, and prints the
worker setting that makes it Docker Hub's mirror (NANO_MODAL_REGISTRY_MIRRORS, docs/IMAGES.md):

    sudo PYTHONPATH=$PWD python integrations/modalflow/stand_in_image.py
    # prints: NANO_MODAL_REGISTRY_MIRRORS=docker.io=http://127.0.0.1:<port>, then serves until Ctrl-C

Run from a checkout (it borrows the tests' loopback registry, tests/worker/oci_fixtures), as root
(the builder mounts overlays), with Debian's `docker-registry` installed. Not part of the test run:
the build downloads Airflow from PyPI.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import platform
import re
import shutil
import signal
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

import nano_modal
from nano_modal.worker.images.builder import ImageBuilder
from nano_modal.worker.images.overlay import mount_overlay, unmount
from nano_modal.worker.images.store import BuiltImage

# The base modalflow 0.3.1's modal_app.py asks for (read from its source when modalflow is importable).
MODALFLOW_BASE_REF = "apache/airflow:3.0.6-python3.10"
# The versions tried (README). The builder skips the `modal` pin (its build log says why); modal comes
# in anyway as modalflow's dependency (`modal>=1.3.0`): PyPI's newest, 1.6.4 on 2026-12-07.
PACKAGES = ["apache-airflow==3.1.5", "modalflow==0.3.1", "modal==1.6.4"]
PYTHON_VERSION = "3.11"  # Airflow 3.1.5 supports it, and nano-modal's Debian base has it (bookworm)
AIRFLOW_UID = 50000  # the official image's `airflow` user, in group 0
AIRFLOW_HOME = "/opt/airflow"  # the official image's; modalflow mounts its dags/ and logs/ volumes under it
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"  # uncompressed: loopback, so gzip would only cost CPU
UPLOAD_CHUNK = 1 << 20
# The OCI name of this host's architecture: the image holds this host's builds of Python and Airflow
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def stand_in() -> nano_modal.Image:
    return (
        nano_modal.Image.debian_slim(PYTHON_VERSION)
        .pip_install(*PACKAGES)
        .run_commands(
            # modalflow's first step runs pip as `airflow` through su, with bash; su (PAM's account
            # check) wants the user in /etc/shadow too. Written directly: minbase has no useradd.
            f"id airflow || (echo 'airflow:x:{AIRFLOW_UID}:0:airflow:/home/airflow:/bin/bash' >> /etc/passwd"
            " && echo 'airflow:*:20000:0:99999:7:::' >> /etc/shadow"
            f" && mkdir -p /home/airflow && chown {AIRFLOW_UID}:0 /home/airflow)",
            f"mkdir -p {AIRFLOW_HOME}/dags {AIRFLOW_HOME}/logs && chown -R {AIRFLOW_UID}:0 {AIRFLOW_HOME}",
        )
        .env({"AIRFLOW_HOME": AIRFLOW_HOME})
        .workdir(AIRFLOW_HOME)
    )


def modalflow_base_ref() -> str:
    """The ref in modalflow's modal_app.py, so the stand-in answers what it asks for."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("modalflow")
    except ImportError:
        spec = None
    if spec and spec.origin:
        source = (Path(spec.origin).parent / "modal_app.py").read_text()
        found = re.search(r'from_registry\(\s*"([^"]+)"', source)
        if found:
            return found.group(1)
    return MODALFLOW_BASE_REF


async def build() -> BuiltImage:
    spec = await stand_in().to_proto(None)  # type: ignore[arg-type]  # no step uploads a file

    async def no_upload(blob_id: str) -> bytes:
        raise AssertionError(f"no step of the stand-in uploads a file ({blob_id})")

    return await ImageBuilder().ensure(spec, no_upload, print)


def flatten(built: BuiltImage, layer: Path) -> str:
    """The image's filesystem (base and layers, through an overlay mount) as one tar; its sha256 digest."""
    with tempfile.TemporaryDirectory(prefix="stand-in-") as tmp:
        merged = Path(tmp) / "merged"
        merged.mkdir()
        mount_overlay([*reversed(built.layers), built.rootfs], merged)
        try:
            with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
                for child in sorted(merged.iterdir()):
                    tar.add(child, arcname=child.name)
        finally:
            unmount(merged)
    hasher = hashlib.sha256()
    with layer.open("rb") as f:
        while chunk := f.read(UPLOAD_CHUNK):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(UPLOAD_CHUNK):
            yield chunk


def upload(base: str, name: str, data_path: Path, digest: str) -> None:
    """A monolithic blob upload (POST, then PUT with the digest), streamed from the file."""
    with httpx.Client(timeout=None) as client:
        r = client.post(f"{base}/v2/{name}/blobs/uploads/")
        r.raise_for_status()
        location = r.headers["location"]
        url = location if location.startswith("http") else base + location
        sep = "&" if "?" in url else "?"
        r = client.put(f"{url}{sep}digest={digest}", content=read_chunks(data_path))
        r.raise_for_status()


def push(base: str, ref: str, built: BuiltImage, workdir: Path) -> None:
    repository, tag = ref.rsplit(":", 1)
    name = repository if "/" in repository else "library/" + repository
    layer = workdir / "layer.tar"
    layer_digest = flatten(built, layer)
    layer_size = layer.stat().st_size
    print(f"layer {layer_digest} ({layer_size / 1e6:.0f} MB)")
    upload(base, name, layer, layer_digest)
    layer.unlink()
    env = [f"{k}={v}" for k, v in built.state.env.items()]
    config = {
        "architecture": HOST_ARCH,
        "os": "linux",
        "config": {"Env": env, "WorkingDir": built.state.workdir, "User": ""},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    config_bytes = json.dumps(config).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    (workdir / "config.json").write_bytes(config_bytes)
    upload(base, name, workdir / "config.json", config_digest)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": MT_LAYER_TAR, "digest": layer_digest, "size": layer_size}],
    }
    with httpx.Client() as client:
        r = client.put(
            f"{base}/v2/{name}/manifests/{tag}", content=json.dumps(manifest), headers={"Content-Type": MT_MANIFEST}
        )
        r.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path.home() / ".nano-modal" / "stand-in-registry")
    parser.add_argument("--no-serve", action="store_true", help="stop the registry once the image is pushed")
    args = parser.parse_args()
    if shutil.which("docker-registry") is None:
        raise SystemExit("stand_in_image.py needs Debian's docker-registry (apt-get install docker-registry)")
    from tests.worker.oci_fixtures import Registry

    # kill/SIGTERM (and Ctrl-C) stop the registry too: it is this script's child
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ref = modalflow_base_ref()
    built = asyncio.run(build())
    args.dir.mkdir(parents=True, exist_ok=True)
    registry = Registry.start(args.dir)
    try:
        push(registry.url, ref, built, args.dir)
        print(f"pushed {ref} to {registry.url}; start the bwrap worker with")
        print(f"NANO_MODAL_REGISTRY_MIRRORS=docker.io={registry.url}")
        if not args.no_serve:
            print("serving until Ctrl-C")
            registry.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        registry.stop()


if __name__ == "__main__":
    main()
