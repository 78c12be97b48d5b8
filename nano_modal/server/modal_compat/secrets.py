"""modal.Secret: nano-modal's secrets (server/secret_store.py), set in the containers'
environment of the functions that name them, as for the nano_modal SDK's functions."""

from __future__ import annotations

from typing import Any

from ...proto import api_pb2 as npb
from ..object_service import ObjectPlane
from .base import ENVIRONMENT, Call, ServiceBase


class SecretRpcs(ServiceBase):
    objects: ObjectPlane

    async def SecretGetOrCreate(self, request: Any, call: Call) -> Any:
        creation = request.object_creation_type
        environment = request.environment_name or ENVIRONMENT
        env = dict(request.env_dict)
        if creation in (self.pb.OBJECT_CREATION_TYPE_ANONYMOUS_OWNED_BY_APP, self.pb.OBJECT_CREATION_TYPE_EPHEMERAL):
            secret_id = self.objects.secrets.create(  # Secret.from_dict
                "", environment, env, False, workspace=call.workspace
            )
        elif creation == self.pb.OBJECT_CREATION_TYPE_UNSPECIFIED:  # Secret.from_name: it must exist
            row, _ = self.objects.registry.get_or_create(
                npb.OBJECT_KIND_SECRET, request.deployment_name, environment, False, False, call.workspace
            )
            secret_id = row.object_id
        else:  # `modal secret create` and friends
            overwrite = creation == self.pb.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS
            if creation == self.pb.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                found = self.objects.registry.store.find_object(
                    npb.OBJECT_KIND_SECRET, environment, request.deployment_name, call.workspace
                )
                if found is not None:
                    return self.pb.SecretGetOrCreateResponse(secret_id=found.object_id)
            secret_id = self.objects.secrets.create(
                request.deployment_name, environment, env, overwrite, workspace=call.workspace
            )
        if request.required_keys:
            self.objects.secrets.check_required(secret_id, list(request.required_keys))
        return self.pb.SecretGetOrCreateResponse(secret_id=secret_id)
