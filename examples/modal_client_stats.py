"""A function's and a sandbox's numbers with the real `modal` client from PyPI, against nano-modal
(docs/MODAL_CLIENT.md).

    export MODAL_SERVER_URL=http://127.0.0.1:50051 MODAL_TOKEN_ID=... MODAL_TOKEN_SECRET=...
    modal run examples/modal_client_stats.py

`Function.get_current_stats()` is the function's load now (nano-modal's scheduler's counts);
`Sandbox._experimental_stats()` how long a sandbox ran and what it reserved (no cost: a
self-hosted cluster bills nothing).
"""

import modal

app = modal.App("modal-client-stats")


@app.function(scaledown_window=300)  # its container stays up after the call: one runner
def square(x: int) -> int:
    return x * x


@app.local_entrypoint()
def main():
    print("square:", square.remote(7))
    stats = square.get_current_stats()
    print("backlog:", stats.backlog)
    print("runners:", stats.num_total_runners)
    print("headroom:", stats.input_headroom)

    sb = modal.Sandbox.create("sh", "-c", "exit 0", app=app, cpu=0.5)
    sb.wait()
    ran = sb._experimental_stats()
    print("sandbox ran:", ran.since <= ran.until and ran.duration.total_seconds() >= 0)
    print("sandbox cpu-seconds:", round(ran.billed_cpu_core_seconds, 6) == round(ran.duration.total_seconds() * 0.5, 6))
    print("sandbox cost:", ran.cost)
