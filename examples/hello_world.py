"""The first example: run a function remotely, one call and a parallel map.

    nano-modal run examples/hello_world.py
"""

import nano_modal as modal

app = modal.App("hello-world")


@app.function(max_containers=4, timeout=60, retries=2)
def square(x: int) -> int:
    print(f"squaring {x} in a container (local={modal.is_local()})")
    return x * x


@app.local_entrypoint()
def main(n: int = 10) -> None:
    print("square(7) =", square.remote(7))
    print(f"sum of squares below {n} =", sum(square.map(range(n))))
