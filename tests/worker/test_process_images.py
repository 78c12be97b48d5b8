"""Images on the `process` runtime (worker/images/venv.py) from a worker run in a venv: the
image's venv sees the worker's own packages (grpc, protobuf), not only its base interpreter's."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.worker.conftest import clean_env

BUILD = """
import asyncio, subprocess, sys
from pathlib import Path
from nano_modal import Image
from nano_modal.worker.images.store import Store
from nano_modal.worker.images.venv import prepare_venv

class Blobs:
    async def upload_blob(self, data: bytes) -> str:
        return "bl-0"

spec = asyncio.run(Image.debian_slim().pip_install("six==1.16.0").to_proto(Blobs()))
python, env = prepare_venv(Store(Path(sys.argv[1])), spec, lambda line: None)
code = "import sys, grpc, google.protobuf, cloudpickle, six, nano_modal.container.entrypoint; print(sys.prefix)"
print(subprocess.run([python, "-c", code], capture_output=True, text=True).stdout + "|" + python)
"""


def test_an_images_venv_sees_the_packages_of_the_workers_venv(user_venv: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [user_venv, "-c", BUILD, str(tmp_path / "images")], env=clean_env(), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    prefix, _, python = out.stdout.strip().rpartition("|")
    assert "/venvs/" in python and prefix.strip() == str(Path(python).parent.parent), out.stdout
