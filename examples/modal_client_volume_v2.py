"""A v2 volume with the real `modal` client from PyPI, against nano-modal (docs/MODAL_CLIENT.md).

    export MODAL_SERVER_URL=http://127.0.0.1:50051 MODAL_TOKEN_ID=... MODAL_TOKEN_SECRET=...
    modal run examples/modal_client_volume_v2.py
    modal volume ls modal-client-volume-v2 /

nano-modal serves Modal's v2 volume methods onto its own volumes: what a function commits is
read by another container, by `modal volume get/ls`, and by the nano_modal SDK.
"""

import os

import modal

app = modal.App("modal-client-volume-v2")
vol = modal.Volume.from_name("modal-client-volume-v2", create_if_missing=True, version=2)
MOUNT = "/tmp/modal-client-volume-v2"  # with the process runtime, a directory of the host


@app.function(volumes={MOUNT: vol})
def write(name: str, text: str) -> list[str]:
    os.makedirs(os.path.join(MOUNT, os.path.dirname(name)), exist_ok=True)
    with open(os.path.join(MOUNT, name), "w") as f:
        f.write(text)
    vol.commit()
    return sorted(os.listdir(MOUNT))


@app.function(volumes={MOUNT: vol})
def read(name: str) -> str:
    vol.reload()
    with open(os.path.join(MOUNT, name)) as f:
        return f.read()


@app.local_entrypoint()
def main():
    print("written:", write.remote("from-function.txt", "committed by a v2 function"))
    print("read back:", read.remote("from-function.txt"))
    # From here, the v2 methods: uploads in 8 MiB blocks, listing, copy, remove.
    with vol.batch_upload(force=True) as batch:
        batch.put_file(__file__, "uploaded/app.py")
    print("uploaded seen by a function:", "import modal" in read.remote("uploaded/app.py"))
    print("listdir:", sorted(e.path for e in vol.listdir("/", recursive=True)))
    vol.copy_files(["from-function.txt"], "copy.txt")
    print("copy:", b"".join(vol.read_file("copy.txt")).decode())
    vol.remove_file("copy.txt")
    print("after remove:", sorted(e.path for e in vol.listdir("/")))
