"""hypernodes' ModalBackend (seed 002), unchanged, with the real `modal` client against nano-modal.

The backend exists only in hypernodes' git history (its PyPI releases have no Modal code), so
the scratch venv installs it from a copy of that commit's package source, LICENSE and build
files (MIT) under third_party/. The worker is bubblewrap's, so images are really built: what a
container can import is what its image holds, as on Modal (the `process` runtime would lend it
the worker's own Python and packages instead).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.modal_compat.conftest import MODAL_VERSION, ModalCluster, bwrap_modal_cluster, make_scratch_venv

pytestmark = [
    pytest.mark.slow(reason="installs modal and hypernodes once; builds a Debian image (cached) and pip layers"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]

HYPERNODES_COMMIT = "ece328c"  # ece328c229bba7e724fa6ac7c2df3afd689f3b25, 2025-10-26: the seed's ModalBackend
HYPERNODES_SOURCE = Path(__file__).resolve().parent / "third_party" / f"hypernodes_{HYPERNODES_COMMIT}"
VENV = Path(tempfile.gettempdir()) / f"nano-modal-test-hypernodes-{HYPERNODES_COMMIT}-modal-{MODAL_VERSION}"
# hypernodes' [modal] extra is modal and cloudpickle; graphviz is imported by its __init__ but
# only listed in its [viz] extra.
REQUIREMENTS = (f"modal=={MODAL_VERSION}", f"{HYPERNODES_SOURCE}[modal]", "graphviz")
# That commit says Python >= 3.12 but runs on the tests' 3.11 (its own tests/test_modal_backend.py
# pass with a 3.11 client: docs/MODAL_CLIENT.md); the venv is made from the tests' Python.
PIP_OPTIONS = ("--ignore-requires-python",)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_hypernodes.py"

# The image of the seed's own smoke tests (scripts/test_modal_smoke.py): cloudpickle, no hypernodes.
SMOKE_IMAGE_ONLY = """
import sys
import modal
from hypernodes import Pipeline, node
from hypernodes.backend import ModalBackend


@node(output_name="result")
def add_one(x: int) -> int:
    return x + 1


python = f"{sys.version_info.major}.{sys.version_info.minor}"
image = modal.Image.debian_slim(python_version=python).uv_pip_install("cloudpickle")
try:
    Pipeline(nodes=[add_one]).with_backend(ModalBackend(image=image, timeout=60)).run(inputs={"x": 5})
except Exception as e:
    print(f"error: {type(e).__name__}: {e}")
"""


@pytest.fixture(scope="module")
def hypernodes_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModalCluster]:
    """A server and a bwrap worker; the client is the hypernodes venv's."""
    pytest.importorskip("modal")
    venv = make_scratch_venv(VENV, REQUIREMENTS, "import hypernodes.backend, modal", PIP_OPTIONS)
    if isinstance(venv, str):
        pytest.skip(venv)
    with bwrap_modal_cluster(tmp_path_factory.mktemp("hypernodes-server"), venv) as cluster:
        yield cluster


@pytest.mark.timeout(900)  # a first run builds the Debian base (network-bound) and the pip layer
def test_hypernodes_modal_backend_runs_pipelines_in_containers(
    hypernodes_cluster: ModalCluster, tmp_path: Path
) -> None:
    done = hypernodes_cluster.python(str(EXAMPLE), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert lines["run"] == "{'doubled': 10, 'result': 11}", done.stdout
    assert lines["container"].startswith("ta-"), done.stdout  # ran in a nano-modal container
    assert lines["map"] == "{'doubled': [2, 4, 6]}", done.stdout
    assert lines["nested"] == "{'all_scaled': [10, 20, 30, 40], 'total': 100}", done.stdout
    assert lines["error"] == "ValueError: Cannot process 42!", done.stdout


@pytest.mark.timeout(600)  # its own pip layer (cloudpickle only)
def test_an_image_without_hypernodes_cannot_unpickle_the_pipeline(
    hypernodes_cluster: ModalCluster, tmp_path: Path
) -> None:
    """The seed's smoke tests' image has no hypernodes: as on Modal 1.x, which mounts no local
    package, the container cannot load the pipeline, and the caller is told which module."""
    program = tmp_path / "smoke_image.py"
    program.write_text(SMOKE_IMAGE_ONLY)
    done = hypernodes_cluster.python(str(program), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error: ModuleNotFoundError: No module named 'hypernodes'" in done.stdout, done.stdout + done.stderr


def test_the_copy_is_the_package_source_only() -> None:
    """third_party/ holds what building the wheel needs (MIT: its LICENSE kept), nothing else."""
    files = sorted(p.relative_to(HYPERNODES_SOURCE).as_posix() for p in HYPERNODES_SOURCE.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith("src/hypernodes/")] == [
        "LICENSE",
        "PROVENANCE.md",
        "README.md",
        "pyproject.toml",
    ]
    assert "MIT License" in (HYPERNODES_SOURCE / "LICENSE").read_text()
