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
from ..object_service import ObjectPlane
from ..objects import AlreadyExists, describe
from ..state import Container
from ..store import ObjectRow
from .auth import Caller, Refused
from .protocol import Protocol

ENVIRONMENT = "main"  # nano-modal has one environment; Modal's default one is called "main"
BUNDLE_MARKER = "modal-compat"  # FunctionDefinition.module_name of functions defined by the Modal client


@dataclass
class Call:
    caller: Caller
    context: grpc.aio.ServicerContext[Any, Any]
    method: str

    @property
    def workspace(self) -> str:
        """The caller's workspace: every name it uses is looked up there (auth.py)."""
        return self.caller.workspace

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


def bundle_function(pb: Any, blobs: BlobStore, bundle_id: str) -> Any:
    """Modal's Function message kept in a function's bundle (functions.py)."""
    bundle = json.loads(blobs.read(bundle_id))
    return pb.Function.FromString(base64.b64decode(bundle["function"]))


class ServiceBase:
    control: ControlPlane
    objects: ObjectPlane
    blobs: BlobStore
    admin_token: str
    proto: Protocol

    @property
    def pb(self) -> Any:
        return self.proto.pb

    def function_message(self, bundle_id: str) -> Any:
        """Modal's Function message kept in a function's bundle (functions.py)."""
        return bundle_function(self.pb, self.blobs, bundle_id)

    def named_object(self, kind: int, request: Any, workspace: str) -> ObjectRow:
        """The dict, queue or volume a <Kind>GetOrCreate names, as its `object_creation_type` asks:
        `from_name` (must exist), `create_if_missing=True`, `modal <kind> create` (must not
        exist yet), or an ephemeral one."""
        creation = request.object_creation_type
        ephemeral = creation == self.pb.OBJECT_CREATION_TYPE_EPHEMERAL
        fail_if_exists = creation == self.pb.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS
        row, created = self.objects.registry.get_or_create(
            kind,
            "" if ephemeral else request.deployment_name,
            request.environment_name or ENVIRONMENT,
            fail_if_exists or creation == self.pb.OBJECT_CREATION_TYPE_CREATE_IF_MISSING,
            ephemeral,
            workspace,
        )
        if fail_if_exists and not created:
            raise AlreadyExists(f"{describe(row)} already exists")
        return row
