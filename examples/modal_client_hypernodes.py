"""hypernodes' ModalBackend, unchanged, with the real `modal` client against nano-modal (seed 002).

hypernodes (github.com/gilad-rubin/hypernodes, commit ece328c; its PyPI releases have no Modal
backend) runs a whole pipeline in one Modal function's container: `ModalBackend` cloudpickles the
pipeline and its inputs, calls its function with `.remote()` inside `app.run()`, and unpickles
the outputs. Run as a plain script, with the three variables `nano-modal token create --modal`
prints:

    pip install modal 'hypernodes[modal] @ git+https://github.com/gilad-rubin/hypernodes@ece328c' graphviz
    python examples/modal_client_hypernodes.py

(That commit asks for Python >= 3.12; tests/modal_compat/test_hypernodes.py installs it from a copy
of its source, on the tests' 3.11, where it runs as well.)
"""

from __future__ import annotations

import os
import sys

import modal
from hypernodes import Pipeline, node
from hypernodes.backend import ModalBackend

# The container unpickles hypernodes' objects, so its image needs hypernodes: Modal 1.x mounts no
# local package by itself (nor does nano-modal), hence add_local_python_source. Its Python is the
# caller's: cloudpickled functions carry bytecode, which another minor version cannot run.
image = (
    modal.Image.debian_slim(python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
    .uv_pip_install("cloudpickle", "networkx", "graphviz")  # hypernodes' own requirements
    .add_local_python_source("hypernodes")
)


@node(output_name="doubled")
def double(x: int) -> int:
    return x * 2


@node(output_name="result")
def add_one(doubled: int) -> int:
    return doubled + 1


@node(output_name="container")
def where() -> str:
    return os.environ["MODAL_TASK_ID"]  # set by Modal's container entrypoint


@node(output_name="scaled")
def scale(item: int) -> int:
    return item * 10


@node(output_name="total")
def total(all_scaled: list[int]) -> int:
    return sum(all_scaled)


@node(output_name="checked")
def refuse_42(x: int) -> int:
    if x == 42:
        raise ValueError("Cannot process 42!")
    return x


def main() -> None:
    backend = ModalBackend(image=image, timeout=120)
    # One container run of a two-node pipeline.
    print("run:", Pipeline(nodes=[double, add_one]).with_backend(backend).run(inputs={"x": 5}))
    print("container:", Pipeline(nodes=[where]).with_backend(backend).run(inputs={})["container"])
    # pipeline.map: one remote run per item (ModalBackend.map).
    print("map:", Pipeline(nodes=[double]).with_backend(backend).map(inputs={"x": [1, 2, 3]}, map_over="x"))
    # A nested pipeline mapped inside the one container, on threads (hypernodes' engine there).
    per_item = Pipeline(nodes=[scale], name="scale_one").as_node(
        input_mapping={"items": "item"}, output_mapping={"scaled": "all_scaled"}, map_over="items", name="scale_all"
    )
    threaded = ModalBackend(image=image, timeout=120, map_execution="threaded", max_workers=4)
    print("nested:", Pipeline(nodes=[per_item, total]).with_backend(threaded).run(inputs={"items": [1, 2, 3, 4]}))
    # A node's exception reaches the caller as itself, as on Modal.
    try:
        Pipeline(nodes=[refuse_42]).with_backend(backend).run(inputs={"x": 42})
    except ValueError as e:
        print(f"error: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
