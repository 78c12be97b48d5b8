"""modal.Cls: a class is its *service function* (created like any function, with its methods'
definitions); an instance with parameters is a nano-modal bound function of it (control
plane's bind_function: one pool of containers per distinct set of parameters), whose
containers get the parameters in the ContainerArguments Modal's entrypoint reads."""

from __future__ import annotations

import secrets
from typing import Any

from ...container.modal_entrypoint import handle_metadata
from ..deployments import Deployments
from .base import Call, ServiceBase


class ClassRpcs(ServiceBase):
    deployments: Deployments

    async def ClassCreate(self, request: Any, call: Call) -> Any:
        """The client keeps everything about a class on its service function (created before
        this call): the class object itself needs only an id."""
        call.admin()
        self.control.app(request.app_id)
        return self.pb.ClassCreateResponse(class_id=request.existing_class_id or f"cs-{secrets.token_hex(8)}")

    async def ClassGet(self, request: Any, call: Call) -> Any:
        """Cls.from_name: the client then looks up the class's service function ("<name>.*")."""
        found = self.deployments.function(request.app_name, f"{request.object_tag}.*")
        return self.pb.ClassGetResponse(class_id=f"cs-{found.function_id}")

    async def FunctionBindParams(self, request: Any, call: Call) -> Any:
        parent = self.control._function(request.function_id)
        bound_id = self.control.bind_function(parent.function_id, request.serialized_params, parent.definition)
        function = self.function_message(parent.definition.source_blob_id)
        return self.pb.FunctionBindParamsResponse(
            bound_function_id=bound_id, handle_metadata=handle_metadata(self.pb, function, parent.app_id)
        )
