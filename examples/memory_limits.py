"""Memory: `memory=` (MiB) is a function's hard memory limit; without it, its containers get
the worker's default.

Run it: nano-modal run examples/memory_limits.py
(or with a small default: NANO_MODAL_CONTAINER_MEMORY_MB=128 nano-modal run examples/memory_limits.py)

A container past its limit is killed by the kernel (OOM) and the call fails, naming the limit.
A function without `memory=` gets the worker's NANO_MODAL_CONTAINER_MEMORY_MB, by default what
the worker's containers may hold together (NANO_MODAL_CONTAINERS_MEMORY_MB): an operator sets
it lower so that one container cannot take the others' memory. A function's own `memory=`
wins, above or below that default. Limits need cgroups the worker can write (a root worker, or
a delegated cgroup); without them the worker says at start that containers run unlimited.
"""

import nano_modal as modal

app = modal.App("memory-limits")


def hold(mib: int) -> str:
    held = b"x" * (mib << 20)  # written, so really held
    return f"held {len(held) >> 20} MiB"


@app.function()
def worker_default(mib: int) -> str:
    return hold(mib)


@app.function(memory=512)
def own_limit(mib: int) -> str:
    return hold(mib)


@app.local_entrypoint()
def main() -> None:
    print("own limit, 300 MiB:", own_limit.remote(300))
    try:
        print("own limit, 800 MiB:", own_limit.remote(800))
    except Exception as exc:  # the container was OOM-killed: the error says at which limit
        print("own limit, 800 MiB failed:", exc)
    try:
        print("worker's default, 300 MiB:", worker_default.remote(300))
    except Exception as exc:
        print("worker's default, 300 MiB failed:", exc)
