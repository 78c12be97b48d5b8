"""The first example: run a function remotely, one call and a parallel map.

    nano-modal run examples/hello_world.py
"""

import datetime
import time

import nano_modal as modal

app = modal.App("hello-world")


@app.function(max_containers=4, timeout=60, retries=2)
def square(x: int) -> int:
    print(f"squaring {x} in a container (local={modal.is_local()})")
    return x * x


@app.local_entrypoint()
def main(n: int = 10) -> None:
    started = datetime.datetime.now(datetime.UTC)
    print("square(7) =", square.remote(7))
    print(f"sum of squares below {n} =", sum(square.map(range(n))))
    # The server knows the app, and keeps what its containers printed (stored a moment after shown).
    info = app.info()
    print(f"app {info.description} is {info.lifecycle.state.value} with functions {sorted(info.functions)}")
    for _ in range(100):
        found = [entry.message.strip() for entry in square.logs.fetch(since=started, search_text="squaring 7 ")]
        if found:
            break
        time.sleep(0.1)
    print("from square's logs:", found[:1])
