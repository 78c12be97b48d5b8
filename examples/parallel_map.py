"""Fan out over many inputs: map, starmap, for_each, and failures collected instead of raised.

    nano-modal run examples/parallel_map.py --n 1000
"""

import nano_modal as modal

app = modal.App("parallel-map")


@app.function()
def cube(x: int) -> int:
    return x**3


@app.function()
def power(base: int, exponent: int) -> int:
    return base**exponent


@app.function()
def inverse(x: int) -> float:
    return 1 / x  # raises ZeroDivisionError for 0


@app.local_entrypoint()
def main(n: int = 1000) -> None:
    total = sum(cube.map(range(n)))
    print(f"sum of cubes below {n}: {total}")
    assert total == sum(x**3 for x in range(n))

    print("powers:", list(power.starmap([(2, 10), (3, 4), (10, 3)])))

    unordered = sorted(cube.map(range(20), order_outputs=False))
    print("unordered results, sorted:", unordered[:5], "...")

    results = list(inverse.map([1, 0, 4], return_exceptions=True))
    print("with return_exceptions:", [type(r).__name__ if isinstance(r, Exception) else r for r in results])

    cube.for_each(range(10))
    print("for_each done")
