"""Where Modal's generated messages come from: the installed `modal_proto`, if any."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

SERVICE_NAME = "modal.client.ModalClient"
# The client minors served (issue 15: the newest and the one before), oldest first. The server
# reads messages with the newest's `modal_proto`: protobuf ignores fields an older client does not
# send, and the older minor's calls are a subset (tests/modal_compat/test_real_client_previous_minor.py).
SUPPORTED_CLIENT_MINORS = ("1.5", "1.6")
SERVER_MINOR = SUPPORTED_CLIENT_MINORS[-1]  # the `modal` the server and worker must have installed
SUPPORTED_RANGE = " or ".join(f"modal {minor}.x" for minor in SUPPORTED_CLIENT_MINORS)


def is_supported_client(version: str) -> bool:
    """Whether a client's `x-modal-client-version` is one of the served minors."""
    return version.startswith(tuple(f"{minor}." for minor in SUPPORTED_CLIENT_MINORS))


INSTALL_HINT = "pip install 'nano-modal[modal-compat]'"


class Protocol:
    """Modal's messages (`api_pb2`) and the shape of each method of its service."""

    def __init__(self, api_pb2: ModuleType, version: str) -> None:
        self.pb = api_pb2
        self.version = version
        self.empty: Any = importlib.import_module("google.protobuf.empty_pb2").Empty
        self.methods = {m.name: m for m in api_pb2.DESCRIPTOR.services_by_name["ModalClient"].methods}

    def message(self, name: str) -> Any:
        """The message class of a method's request or response, by its descriptor's name."""
        if name == "Empty":
            return self.empty
        return getattr(self.pb, name)


def load() -> tuple[Protocol | None, str]:
    """Modal's protocol if its package is installed, with one line saying what is served."""
    try:
        api_pb2 = importlib.import_module("modal_proto.api_pb2")
        version: str = importlib.import_module("modal_version").__version__
    except ImportError:
        return None, f"not serving Modal's client protocol: {INSTALL_HINT}"
    if not version.startswith(SERVER_MINOR + "."):
        return None, (
            f"not serving Modal's client protocol: the installed modal is {version}, "
            f"this nano-modal reads modal {SERVER_MINOR}.x's messages: pip install 'modal~={SERVER_MINOR}.0'"
        )
    return Protocol(
        api_pb2, version
    ), f"serving Modal's client protocol ({SUPPORTED_RANGE} clients, {version} installed)"
