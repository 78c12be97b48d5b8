"""Images defined with the real client from PyPI, built by nano-modal's image builder on a bwrap
worker (modal_compat/images.py): `modal run` of a function in `Image.debian_slim()` plus steps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster, bwrap_modal_cluster, make_modal_venv
from tests.modal_compat.test_real_client import write_app

pytestmark = [
    pytest.mark.slow(reason="installs modal from PyPI once; builds a Debian image (cached) and a pip layer"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "modal_client_image.py"  # the program users are shown
FILES_EXAMPLE = EXAMPLES / "modal_client_image_files"  # a project whose image copies its files in
NAMES_EXAMPLE = EXAMPLES / "modal_client_image_names.py"  # build, publish, from_name, from_id
NAME_PUBLISHED = "nano-compat-base:v1"  # what that example publishes
# nano-modal's own client reading a published image's definition (the steps, one a line)
NANO_FROM_NAME = """
import asyncio, sys
from nano_modal.client import Client
from nano_modal.proto import api_pb2

async def main():
    client = await Client.get()
    spec = await client.stub.ImageGetByTag(api_pb2.ImageGetByTagRequest(tag=sys.argv[1]))
    print("\\n".join(s.kind + " " + " ".join(s.args) for s in spec.steps))

asyncio.run(main())
"""

REFUSED_APP = """
import modal

image = modal.Image.from_registry("python:3.11-slim", add_python="3.12")
app = modal.App("nano-compat-images-refused", image=image)


@app.function()
def f():
    return 1


@app.local_entrypoint()
def main():
    print(f.remote())
"""


@pytest.fixture(scope="module")
def bwrap_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModalCluster]:
    """A server and a bwrap worker (conftest.bwrap_modal_cluster) for the modal venv's client."""
    pytest.importorskip("modal")
    venv = make_modal_venv()
    if isinstance(venv, str):
        pytest.skip(venv)
    with bwrap_modal_cluster(tmp_path_factory.mktemp("modal-images-server"), venv) as cluster:
        yield cluster


@pytest.mark.timeout(900)  # a first run builds the Debian base (network-bound) and pip-installs six
def test_modal_run_builds_the_image_steps(bwrap_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    run = bwrap_cluster.modal("run", "app.py", cwd=tmp_path, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output + (bwrap_cluster.state_dir / "worker.log").read_text()[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("hi:"))
    # run_commands ran in the image, env() and workdir() took effect, six was pip-installed into
    # the image's own Python (the worker's Python has no six at all).
    assert line.startswith("hi: hi | six: 1.") and "| X: 1 | cwd: /srv |" in line, output
    assert "six from: /usr/local/lib/python3.11/dist-packages/six.py" in line, output
    assert "pip install six" in output, output  # the build log reached `modal run`'s output


def test_an_image_step_not_supported_is_refused_in_one_line(bwrap_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, REFUSED_APP)
    run = bwrap_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode != 0
    output = " ".join((run.stdout + run.stderr).split())  # the client wraps long lines
    assert "nano-modal cannot build this image: from_registry(add_python=) is not supported" in output, output


@pytest.mark.timeout(900)  # pip-installs six from a requirements file
def test_modal_run_copies_the_project_files_into_the_image(bwrap_cluster: ModalCluster, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FILES_EXAMPLE, project)
    run = bwrap_cluster.modal("run", "app.py", cwd=project, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output + (bwrap_cluster.state_dir / "worker.log").read_text()[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("six:"))
    # the requirements file was copied and installed, the package directory copied (and seen by a
    # build step after it), the COPY line's file copied where it said
    assert line.startswith("six: 1.") and "| idna: 3." in line, output
    assert "| greeter: hello from greeter | COPY: copied by COPY | built: hello from greeter" in line, output
    assert "pip install -r /.requirements.txt" in output, output  # the build log reached `modal run`
    assert "/.uv/uv pip install --python" in output, output  # uv_pip_install ran uv


FAILING_APP = """
import modal

app = modal.App("nano-compat-images-failing", image=modal.Image.debian_slim().run_commands("echo broken; exit 3"))


@app.function()
def f():
    return 1


@app.local_entrypoint()
def main():
    print(f.remote())
"""


def test_a_failed_image_step_fails_the_call_naming_it(bwrap_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, FAILING_APP)
    run = bwrap_cluster.modal("run", "app.py", cwd=tmp_path)
    output = " ".join((run.stdout + run.stderr).split())  # the client wraps long lines
    assert run.returncode != 0, output
    assert "building image im-" in output, output
    assert "image step 'run_commands echo broken; exit 3' failed with exit code 3" in output, output


@pytest.mark.timeout(900)
def test_an_image_built_and_published_is_used_by_name_and_by_id(bwrap_cluster: ModalCluster, tmp_path: Path) -> None:
    app = write_app(tmp_path, NAMES_EXAMPLE.read_text())
    env = bwrap_cluster.modal_env()
    python = str(bwrap_cluster.venv / "bin" / "python")
    publish = subprocess.run([python, str(app)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert publish.returncode == 0, publish.stdout + publish.stderr
    image_id = publish.stdout.split("image id:")[1].split()[0]
    assert image_id.startswith("im-"), publish.stdout
    run = subprocess.run(
        [str(bwrap_cluster.venv / "bin" / "modal"), "run", "app.py"],
        cwd=tmp_path,
        env={**env, "BASE_IMAGE_ID": image_id},
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output + (bwrap_cluster.state_dir / "worker.log").read_text()[-3000:]
    assert "by name: built ahead | by id: built ahead | on top" in run.stdout, output
    # what the real client published is nano-modal's published image of that name
    found = subprocess.run(
        [sys.executable, "-c", NANO_FROM_NAME, NAME_PUBLISHED],
        env={**os.environ, "NANO_MODAL_SERVER_URL": bwrap_cluster.server_url, "NANO_MODAL_TOKEN": bwrap_cluster.token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0 and "run_commands echo built ahead > /opt/base.txt" in found.stdout, found.stderr
