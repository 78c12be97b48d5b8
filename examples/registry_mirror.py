"""Registry images through a mirror: a worker setting, no change to your code.

    NANO_MODAL_REGISTRY_MIRRORS=docker.io=http://127.0.0.1:5000 nano-modal run examples/registry_mirror.py

A worker with that setting pulls Docker Hub's `python:3.12-slim` from the mirror (as
`library/python:3.12-slim`, tag and digest kept), and from Docker Hub itself only when the mirror
lacks it; the build log in your terminal says which (`pulling from mirror ...`). On the embedded
default the worker inherits your environment; a standing worker takes the setting where it starts
(docs/DEPLOY.md). Images are built on isolating runtimes (bwrap, gvisor): on `process` the function
runs on the worker's own Python instead.
"""

import nano_modal as modal

app = modal.App("registry-mirror")

image = modal.Image.from_registry("python:3.12-slim").env({"STEP": "added on top"})


@app.function(image=image)
def inside() -> dict[str, str]:
    import os
    import sys

    return {"python": sys.executable, "STEP": os.environ.get("STEP", ""), "cwd": os.getcwd()}


@app.local_entrypoint()
def main() -> None:
    for key, value in inside.remote().items():
        print(f"{key}: {value}")
