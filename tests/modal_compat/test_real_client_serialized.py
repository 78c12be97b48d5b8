"""A `serialized=True` function whose image has another Python than the client's (seed 002).

hypernodes' ModalBackend defines its function with serialized=True in an image of Python 3.12;
a 3.11 client's cloudpickled bytecode cannot load there, and the container died with SIGSEGV and
no word of why. Defining such a function now warns the client (modal_compat/serialized_python.py);
creating it stays allowed, as on Modal. No container runs here: the warning comes at FunctionCreate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster

OTHER_PYTHON = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"  # the client venv's Python is this one's
APP = """
import modal

app = modal.App("nano-compat-serialized-python")


def define(name, python_version):
    @app.function(serialized=True, image=modal.Image.debian_slim(python_version=python_version), name=name)
    def f() -> int:
        return 1


define("other_python", {other!r})
define("same_python", None)  # the client's own Python: no warning
with app.run():
    print("defined")
"""


def test_a_serialized_function_in_an_image_of_another_python_warns(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    program = tmp_path / "serialized_app.py"
    program.write_text(APP.format(other=OTHER_PYTHON))
    done = modal_cluster.python(str(program), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "defined" in done.stdout
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = (
        f"nano-modal: other_python is serialized (cloudpickled) by Python {mine} but its image has Python "
        f"{OTHER_PYTHON}, whose containers cannot unpickle it (on runtimes that build images): use an image of "
        f"Python {mine}, e.g. Image.debian_slim(python_version={mine!r})"
    )
    assert expected in done.stderr, done.stderr
    assert done.stderr.count("is serialized (cloudpickled)") == 1, done.stderr  # not for the matching one


def test_only_a_known_other_minor_of_a_serialized_function_warns() -> None:
    """No warning without both versions (a registry image names none) or for code the image
    imports from files; a class pickled by value warns as a function does."""
    api_pb2 = pytest.importorskip("modal_proto.api_pb2")
    from nano_modal.proto import api_pb2 as npb
    from nano_modal.server.modal_compat.serialized_python import python_mismatch

    debian_312 = npb.ImageSpec(base=npb.ImageBase(kind="debian", python_version="3.12"))
    client_311 = {"x-modal-python-version": "3.11.7"}
    pickled_class = api_pb2.Function(function_name="C.*", class_serialized=b"x")
    assert python_mismatch(pickled_class, debian_312, client_311) is not None
    assert python_mismatch(pickled_class, debian_312, {"x-modal-python-version": "3.12.1"}) is None
    assert python_mismatch(pickled_class, debian_312, {}) is None
    assert python_mismatch(pickled_class, npb.ImageSpec(base=npb.ImageBase(kind="registry")), client_311) is None
    assert python_mismatch(pickled_class, None, client_311) is None
    from_file = api_pb2.Function(function_name="f", module_name="app")
    assert python_mismatch(from_file, debian_312, client_311) is None
