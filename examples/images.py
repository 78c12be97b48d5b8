"""Images: the container a function runs in, defined in code.

    nano-modal run examples/images.py

The worker builds the image before the first container starts: a Debian root filesystem
with Python (built once per machine), then one cached layer per step. The build log shows
in your terminal; running this again rebuilds nothing. `nano-modal image list` shows what
was built. Without `image=`, functions run on the worker's own Python.
"""

import sys
from pathlib import Path

import nano_modal as modal

app = modal.App("images")

image = (
    modal.Image.debian_slim(python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
    .pip_install("six")  # from PyPI, into the image's Python
    .env({"GREETING": "hello from the image"})
    .workdir("/srv/app")
    .add_local_file(Path(__file__), "/srv/app/example.py")  # mounted when containers start
)

with image.imports():
    import six  # installed in the image: an ImportError here is swallowed


@app.function(image=image)
def inside() -> dict[str, str]:
    import os

    return {
        "python": sys.executable,
        "six": six.__version__,
        "debian": Path("/etc/debian_version").read_text().strip(),
        "greeting": os.environ["GREETING"],
        "cwd": os.getcwd(),
        "mounted": str(Path("example.py").exists()),
    }


@app.local_entrypoint()
def main() -> None:
    for key, value in inside.remote().items():
        print(f"{key:>9}: {value}")
