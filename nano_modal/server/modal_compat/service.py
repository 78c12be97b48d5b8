"""Every served method of `modal.client.ModalClient`, by group."""

from __future__ import annotations

from ..blobs import BlobStore
from ..control import ControlPlane
from ..deployments import Deployments
from ..object_service import ObjectPlane
from ..sandboxes import SandboxPlane
from .app_log_fetch import AppLogFetchRpcs
from .apps import AppRpcs
from .blobs import BlobRpcs
from .classes import ClassRpcs
from .containers import ContainerRpcs
from .deploys import DeployRpcs
from .dicts import DictRpcs
from .functions import FunctionRpcs
from .image_names import ImageNameRpcs
from .images import LayerCache
from .mounts import MountRpcs
from .protocol import Protocol
from .queues import QueueRpcs
from .sandboxes import SandboxRpcs
from .secrets import SecretRpcs
from .volumes_v2 import VolumeV2Rpcs
from .web import ModalWeb


class ModalService(
    DeployRpcs,
    AppRpcs,
    AppLogFetchRpcs,
    FunctionRpcs,
    MountRpcs,
    ImageNameRpcs,
    ContainerRpcs,
    DictRpcs,
    BlobRpcs,
    SecretRpcs,
    QueueRpcs,
    ClassRpcs,
    VolumeV2Rpcs,  # and the v1 methods (volumes.py)
    SandboxRpcs,
):
    def __init__(
        self,
        control: ControlPlane,
        blobs: BlobStore,
        admin_token: str,
        proto: Protocol,
        objects: ObjectPlane,
        web_base_url: str,
        sandboxes: SandboxPlane,
        router_url: str,
        web_domain: str = "",
    ) -> None:
        self.control = control
        self.blobs = blobs
        self.admin_token = admin_token
        self.proto = proto
        self.deployments = Deployments(control)
        self.objects = objects
        self.web_base_url = web_base_url
        self.sandboxes = sandboxes
        self.router_url = router_url
        self.stdin_index: dict[str, int] = {}
        self.web_domain = web_domain
        self.image_layers = LayerCache()
        self.web = ModalWeb(proto.pb, control, blobs)  # the HTTP gateway's side of web endpoints
