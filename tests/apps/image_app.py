"""Functions that run in images, for tests/worker/test_images.py (imported by reference)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nano_modal

app = nano_modal.App("image-app")
DATA = Path(__file__).parent / "image_data"

image = (
    nano_modal.Image.debian_slim()
    .pip_install("six")
    .env({"IMAGE_MODE": "test"})
    .workdir("/srv/app")
    .add_local_dir(DATA, "/data/mounted")
)

with image.imports():
    import six  # only in the image: swallowed here if missing


@app.function(image=image)
def where() -> dict[str, object]:
    return {
        "six": six.__version__,
        "six_file": six.__file__,
        "executable": sys.executable,
        "version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "debian": Path("/etc/debian_version").read_text().strip(),
        "mode": os.environ.get("IMAGE_MODE"),
        "cwd": os.getcwd(),
        "mounted": sorted(p.name for p in Path("/data/mounted").iterdir()),
        "root_writable": _writes("/opt/scratch.txt"),
    }


# A build secret: its value reaches the step's command (and this test reads what it wrote),
# yet it is neither in the image's environment nor in the container's.
token = nano_modal.Secret.from_dict({"BUILD_TOKEN": "s3cr3t"})
with_secret = nano_modal.Image.debian_slim().run_commands("echo token=$BUILD_TOKEN > /token.txt", secrets=[token])


@app.function(image=with_secret)
def built_with_secret() -> dict[str, object]:
    return {"file": Path("/token.txt").read_text().strip(), "env": os.environ.get("BUILD_TOKEN")}


@app.function(image=nano_modal.Image.debian_slim().run_commands("echo about to fail; exit 7"))
def broken() -> str:
    return "never"


@app.function()
def host() -> str:
    return sys.executable


def _writes(path: str) -> bool:
    Path(path).write_text("x")
    return Path(path).read_text() == "x"


def _download(name: str, size: int) -> None:
    """Runs inside the image at build time (run_function): its files become a layer."""
    import sys as image_sys

    Path(f"/opt/{name}").write_text(f"{size} bytes by {image_sys.executable}")


with_function = nano_modal.Image.debian_slim().run_function(_download, args=("weights.bin",), kwargs={"size": 42})


@app.function(image=with_function)
def built_by_function() -> str:
    return Path("/opt/weights.bin").read_text()


# A build step that sees a volume: it reads what the test put there and leaves a note in it.
cache = nano_modal.Volume.from_name("image-app-build-cache", create_if_missing=True)


def _from_volume(nonce: str) -> None:
    Path("/opt/from-volume.txt").write_text(Path("/cache/seed.txt").read_text())
    Path("/cache/written-at-build.txt").write_text(f"the build was here {nonce}")


# A build step runs once per image cache: the test's nonce makes it run in each test run.
with_volume = nano_modal.Image.debian_slim().run_function(
    _from_volume, volumes={"/cache": cache}, kwargs={"nonce": os.environ.get("IMAGE_APP_NONCE", "")}
)


@app.function(image=with_volume)
def built_with_volume() -> dict[str, object]:
    return {"layer": Path("/opt/from-volume.txt").read_text(), "mounted": Path("/cache").exists()}
