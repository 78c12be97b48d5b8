"""Fire and forget: spawn calls, fetch results later (even from another process), cancel them.

nano-modal run examples/spawn_and_poll.py
"""

import time

import nano_modal as modal

app = modal.App("spawn-and-poll")


@app.function()
def slow_add(a: int, b: int, delay: float = 0.5) -> int:
    print(f"adding {a} and {b}")
    time.sleep(delay)
    return a + b


@app.local_entrypoint()
def main() -> None:
    call = slow_add.spawn(2, 3)
    print("spawned", call.object_id)
    try:
        call.get(timeout=0.01)
    except TimeoutError:
        print("not ready yet")
    # Any process that can reach the server can pick the result up by id.
    print("result:", modal.FunctionCall.from_id(call.object_id).get())
    # Each call's own prints, apart from other calls' (the app's logs hold them all).
    for _ in range(50):  # they reach the server's store a moment after the result
        printed = [entry.message.strip() for entry in call.logs.tail()]
        if printed:
            break
        time.sleep(0.1)
    print("its logs:", printed)

    doomed = slow_add.spawn(1, 1, delay=30)
    time.sleep(0.5)
    doomed.cancel()
    try:
        doomed.get(timeout=10)
    except modal.exception.InputCancellation:
        print("cancelled")

    batch = slow_add.spawn_map(range(5), range(5), kwargs={"delay": 0.1})
    print("spawn_map:", batch.get())
