"""`modal deploy` and handles by name: deployed apps are nano-modal's deployed apps.

`modal deploy` asks for the app by name (AppGetOrCreate), creates its functions in it
(FunctionPrecreate/FunctionCreate, which reuse the id of a function of the same name, so
that handles stay valid across deployments as nano-modal's do), then publishes: a new
version of the app in nano-modal's deployment history (server/deployments.py), after which
containers of the previous version drain and exit.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from ...container.modal_entrypoint import handle_metadata
from ...proto import api_pb2 as npb
from ..control import NotFound
from ..deployments import Deployments
from .apps import app_page_url
from .auth import Refused
from .base import BUNDLE_MARKER, Call
from .functions import function_data
from .web import WebRpcs


class DeployRpcs(WebRpcs):
    deployments: Deployments

    async def AppGetOrCreate(self, request: Any, call: Call) -> Any:
        call.admin()
        create = request.object_creation_type == self.pb.OBJECT_CREATION_TYPE_CREATE_IF_MISSING
        app = self.deployments.lookup(request.app_name, create_if_missing=create, workspace=call.workspace)
        return self.pb.AppGetOrCreateResponse(app_id=app.app_id)

    async def AppGetByDeploymentName(self, request: Any, call: Call) -> Any:
        try:
            app = self.deployments.lookup(request.name, workspace=call.workspace)
        except NotFound:
            return self.pb.AppGetByDeploymentNameResponse()  # "none": the client says so itself
        return self.pb.AppGetByDeploymentNameResponse(app_id=app.app_id, environment_name=request.environment_name)

    async def AppPublish(self, request: Any, call: Call) -> Any:
        """`modal run` publishes its ephemeral app with the functions it created: nothing to do,
        they are the app's already. `modal deploy`: a new version of the deployed app with the
        functions the client created in it."""
        call.admin()
        app = self.control.app(request.app_id)
        if request.app_state != self.pb.APP_STATE_DEPLOYED:
            return self.pb.AppPublishResponse(deployed_at=time.time())
        if request.name and request.name != app.name:
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"nano-modal: app {app.app_id} is deployed as {app.name!r}, not {request.name!r}",
            )
        definitions = [self.control._function(fid).definition for fid in request.function_ids.values()]
        # request.class_ids need nothing more: a class is its service function, in function_ids.
        self.deployments.deploy(
            npb.AppDeployRequest(
                name=app.name, tag=request.deployment_tag, definitions=definitions, tags=dict(request.tags)
            ),
            workspace=app.workspace,
        )
        return self.pb.AppPublishResponse(url=app_page_url(self.web_base_url, app.app_id), deployed_at=time.time())

    async def FunctionGet(self, request: Any, call: Call) -> Any:
        found = self.deployments.function(request.app_name, request.object_tag, workspace=call.workspace)
        if found.definition.module_name != BUNDLE_MARKER:
            raise Refused(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"nano-modal: {request.app_name}/{request.object_tag} was deployed with the nano_modal SDK; "
                "the modal client cannot call it yet (their payload formats differ)",
            )
        function = self.function_message(found.definition.source_blob_id)
        app_id = self.control._function(found.function_id).app_id
        metadata = handle_metadata(self.pb, function, app_id)
        self.add_web_urls(app_id, function, metadata)
        return self.pb.FunctionGetResponse(
            function_id=found.function_id,
            handle_metadata=metadata,
            function=function_data(self.pb, function),
        )
