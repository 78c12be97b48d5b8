"""What every group of Modal methods shares: the control plane, the blobs, the protocol."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from ..blobs import BlobStore
from ..control import ControlPlane
from ..state import Container
from .auth import Caller, Refused
from .protocol import Protocol

ENVIRONMENT = "main"  # nano-modal has one environment; Modal's default one is called "main"


@dataclass
class Call:
    caller: Caller
    context: grpc.aio.ServicerContext[Any, Any]
    method: str

    def container(self) -> Container:
        """The calling container; a method only containers may call refuses anyone else."""
        if self.caller.container is None:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED, f"nano-modal: only containers call ModalClient/{self.method}"
            )
        return self.caller.container

    def admin(self) -> None:
        if self.caller.container is not None:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"nano-modal: containers may not call ModalClient/{self.method} yet",
            )


class ServiceBase:
    control: ControlPlane
    blobs: BlobStore
    admin_token: str
    proto: Protocol

    @property
    def pb(self) -> Any:
        return self.proto.pb

    def function_message(self, bundle_id: str) -> Any:
        """Modal's Function message kept in a function's bundle (functions.py)."""
        bundle = json.loads(self.blobs.read(bundle_id))
        return self.pb.Function.FromString(base64.b64decode(bundle["function"]))
