"""Images defined with the real client from PyPI, built by nano-modal's image builder on a bwrap
worker (modal_compat/images.py): `modal run` of a function in `Image.debian_slim()` plus steps."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_server, start_worker, stop
from tests.modal_compat.conftest import ModalCluster, make_modal_venv
from tests.modal_compat.test_real_client import write_app

pytestmark = [
    pytest.mark.slow(reason="installs modal from PyPI once; builds a Debian image (cached) and a pip layer"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_image.py"  # the program users are shown

REFUSED_APP = """
import modal

image = modal.Image.debian_slim().add_local_file("app.py", "/opt/app.py", copy=True)
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
    """A server and a bwrap worker from this interpreter (with modal-compat's `modal`, which the
    worker copies into images; bubblewrap would not show the modal venv's .pth-reached packages)."""
    pytest.importorskip("modal")
    venv = make_modal_venv()
    if isinstance(venv, str):
        pytest.skip(venv)
    state_dir = tmp_path_factory.mktemp("modal-images-server")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "bwrap")
    try:
        yield ModalCluster(venv, url, token, state_dir)
    finally:
        stop(worker)
        stop(server)


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
    assert "nano-modal cannot build this image: Dockerfile line 1: 'COPY . /'" in run.stdout + run.stderr


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
