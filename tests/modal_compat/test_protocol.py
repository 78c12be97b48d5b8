"""Without the `modal` package the server says it does not serve Modal's protocol, and how to."""

from __future__ import annotations

import importlib.util

import pytest

from nano_modal.server.modal_compat import load_protocol


@pytest.mark.skipif(importlib.util.find_spec("modal_proto") is not None, reason="modal is installed here")
def test_not_served_without_modal_says_how() -> None:
    proto, status = load_protocol()
    assert proto is None
    assert status == "not serving Modal's client protocol: pip install 'nano-modal[modal-compat]'"
