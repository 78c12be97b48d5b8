"""A process that forks (a `multiprocessing` fork Pool, the default on Linux) and calls functions
from the children: each child connects on its own. Before, the children shared their parent's
fast-lane socket (answers went to whichever child read first: wrong results, or a child waited
out its deadline) and, inside a container, waited forever for the parent's event loop and for a
first gRPC call that a forked child cannot make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import run_script

SCRIPT = """
import multiprocessing
import nano_modal

app = nano_modal.App("fork-pool")


@app.function()
def square(x: int) -> int:
    return x * x


def call(x: int) -> int:
    return square.remote(x)


@app.function(timeout=40)
def fan_out(n: int) -> list[int]:
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return pool.map(call, range(n))


if __name__ == "__main__":
    import sys

    with app.run(show_logs=False):
        if sys.argv[1] == "caller":
            print("PARENT", square.remote(3), flush=True)  # connected before the fork
            with multiprocessing.get_context("fork").Pool(2) as pool:
                got = pool.map(call, range(40))
            print("CHILDREN", got == [x * x for x in range(40)], flush=True)
        else:
            print("IN FUNCTION", fan_out.remote(6), flush=True)
"""


def test_forked_children_of_the_caller_call_functions(cluster: Any, tmp_path: Path) -> None:
    proc = run_script(tmp_path, SCRIPT, "caller", env=cluster.env(), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PARENT 9" in proc.stdout.splitlines()
    assert "CHILDREN True" in proc.stdout.splitlines()  # old code: ConnectionError or mixed-up answers


def test_forked_children_in_a_container_call_functions(cluster: Any, tmp_path: Path) -> None:
    proc = run_script(tmp_path, SCRIPT, "container", env=cluster.env(), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IN FUNCTION [0, 1, 4, 9, 16, 25]" in proc.stdout.splitlines()  # old code: timed out after 40 s
