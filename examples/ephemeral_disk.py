"""A function's disk: `ephemeral_disk=` (MiB) sizes the disk its container writes to.

Run it: nano-modal run examples/ephemeral_disk.py

Each container writes to a disk of its own (its working directory, and in an image its whole
filesystem), so one function cannot fill the host's disk. Without `ephemeral_disk=` it gets
the worker's default (NANO_MODAL_CONTAINER_DISK_MB, 10 GiB). The limit holds under bubblewrap
and gVisor with a worker run as root (the default local server is, when you are root);
elsewhere the worker says at start that disks are not limited.
"""

import os

import nano_modal as modal

app = modal.App("ephemeral-disk")


@app.function(ephemeral_disk=64)
def write_scratch(mib: int) -> str:
    written = 0
    try:
        with open("scratch.bin", "wb") as f:  # the working directory: on the container's disk
            for _ in range(mib):
                f.write(b"\0" * 2**20)
                f.flush()
                written += 1
            os.fsync(f.fileno())
    except OSError as exc:
        return f"stopped after {written} MiB: {exc.strerror}"
    finally:
        if os.path.exists("scratch.bin"):
            os.remove("scratch.bin")
    return f"wrote {written} MiB"


@app.local_entrypoint()
def main() -> None:
    print("16 MiB:", write_scratch.remote(16))
    print("100 MiB:", write_scratch.remote(100))
