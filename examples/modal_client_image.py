"""A Modal program with an image, unchanged: nano-modal's image builder builds its steps.

    modal run examples/modal_client_image.py     # set up as in examples/modal_client_app.py,
                                                 # with a bwrap (or gvisor) worker

`Image.debian_slim()` is nano-modal's own Debian base of the client's Python; the steps run in
it at the first container's start, and their build log shows in `modal run`'s output
(docs/MODAL_CLIENT.md, "Images"; tests/modal_compat/test_real_client_images.py runs this file).
"""

import os

import modal

image = (
    modal.Image.debian_slim()
    .pip_install("six")
    .run_commands("echo hi > /opt/hi.txt")
    .env({"X": "1"})
    .workdir("/srv")
)
app = modal.App("nano-compat-images", image=image)


@app.function()
def f() -> tuple[str, str, str, str, str]:
    import six

    return open("/opt/hi.txt").read(), six.__version__, os.environ["X"], os.getcwd(), six.__file__


@app.local_entrypoint()
def main() -> None:
    hi, version, x, cwd, where = f.remote()
    print("hi:", hi.strip(), "| six:", version, "| X:", x, "| cwd:", cwd, "| six from:", where)
