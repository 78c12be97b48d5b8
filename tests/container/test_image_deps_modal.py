"""A modal-compat container in an image that pip-installed another `modal` runs the worker's
client (container/_image_deps.py): the server speaks one minor version's protocol."""

from __future__ import annotations

from nano_modal.container._image_deps import refused


def test_an_image_modal_of_another_minor_version_puts_the_worker_s_first() -> None:
    sdk = {"modal": (1, 6, 4), "protobuf": (5, 29)}
    assert refused({"modal": (1, 7, 0)}, sdk) == ["modal 1.7.0"]
    assert refused({"modal": (1, 6, 1)}, sdk) == []  # the same protocol: the image's wins
    assert refused({"modal": (1, 7, 0)}, {"protobuf": (5, 29)}) == []  # nano-modal's own containers
