"""Modal's `image.build()`, `image.publish()`, `Image.from_name` and `Image.from_id`, unchanged.

    python examples/modal_client_image_names.py     # builds and publishes the image: prints its id
    BASE_IMAGE_ID=im-... modal run examples/modal_client_image_names.py
                                                    # set up as in examples/modal_client_app.py,
                                                    # with a bwrap (or gvisor) worker

The functions run on the published image, by its name and by its id (with a step on top).
`publish` names it among nano-modal's published images, so `nano_modal.Image.from_name` finds
it too (docs/MODAL_CLIENT.md, "Images"; tests/modal_compat/test_real_client_images.py runs
this file).
"""

import os
from pathlib import Path

import modal

NAME = "nano-compat-base:v1"
base = modal.Image.debian_slim().run_commands("echo built ahead > /opt/base.txt")
app = modal.App("nano-compat-image-names")


@app.function(image=modal.Image.from_name(NAME))
def by_name() -> str:
    return Path("/opt/base.txt").read_text().strip()


@app.function(image=modal.Image.from_id(os.environ.get("BASE_IMAGE_ID", "")).env({"LAYER": "on top"}))
def by_id() -> str:
    return Path("/opt/base.txt").read_text().strip() + " | " + os.environ["LAYER"]


@app.local_entrypoint()
def main() -> None:
    print("by name:", by_name.remote(), "| by id:", by_id.remote())


if __name__ == "__main__":
    base.build()
    base.publish(NAME)
    print("image id:", base.object_id)
