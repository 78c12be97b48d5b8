"""modal.Cls: a class is its *service function* (created like any function, with its methods'
definitions); an instance with parameters is a nano-modal bound function of it (control
plane's bind_function: one pool of containers per distinct set of parameters), whose
containers get the parameters in the ContainerArguments Modal's entrypoint reads."""

from __future__ import annotations

import secrets
from typing import Any

from ...container.modal_entrypoint import handle_metadata
from ...proto import api_pb2 as npb
from ..deployments import Deployments
from .base import Call
from .class_params import parameter_query
from .functions import retry_policy, volume_mounts
from .web import WebRpcs


class ClassRpcs(WebRpcs):
    deployments: Deployments

    async def ClassCreate(self, request: Any, call: Call) -> Any:
        """The client keeps everything about a class on its service function (created before
        this call): the class object itself needs only an id."""
        call.admin()
        self.control.app(request.app_id)
        return self.pb.ClassCreateResponse(class_id=request.existing_class_id or f"cs-{secrets.token_hex(8)}")

    async def ClassGet(self, request: Any, call: Call) -> Any:
        """Cls.from_name: the client then looks up the class's service function ("<name>.*")."""
        found = self.deployments.function(request.app_name, f"{request.object_tag}.*", workspace=call.workspace)
        return self.pb.ClassGetResponse(class_id=f"cs-{found.function_id}")

    async def FunctionBindParams(self, request: Any, call: Call) -> Any:
        """An instance with parameters, or a variant with options (`Cls.with_options(...)`), or both."""
        parent = self.control._function(request.function_id)
        options = variant_definition(parent.definition, request.function_options)
        bound_id = self.control.bind_function(parent.function_id, request.serialized_params, options)
        function = self.function_message(parent.definition.source_blob_id)
        metadata = handle_metadata(self.pb, function, parent.app_id)
        # The instance's web endpoints are the class's, with its parameters as their query,
        # which is where the gateway reads them (class_params.py).
        self.add_web_urls(parent.app_id, function, metadata)
        query = parameter_query(self.pb, request.serialized_params)
        if query:
            for method in metadata.method_handle_metadata.values():
                if method.web_url:
                    method.web_url = f"{method.web_url}?{query}"
        return self.pb.FunctionBindParamsResponse(bound_function_id=bound_id, handle_metadata=metadata)


def variant_definition(parent: npb.FunctionDefinition, options: Any) -> npb.FunctionDefinition:
    """The definition of a class's variant: the parent's, with what Modal's `FunctionOptions`
    (`Cls.with_options(cpu=, memory=, secrets=, volumes=, retries=, timeout=, max_containers=,
    scaledown_window=, min_containers=)`) sets. What nano-modal has no counterpart for (GPUs,
    concurrency and batching, cloud buckets, regions) is ignored, as in FunctionCreate."""
    definition = npb.FunctionDefinition()
    definition.CopyFrom(parent)
    if options.resources.milli_cpu:
        definition.cpu = options.resources.milli_cpu / 1000
    if options.resources.memory_mb:
        definition.memory_mb = options.resources.memory_mb
    if options.replace_secret_ids:
        definition.secret_ids[:] = options.secret_ids
    if options.replace_volume_mounts:
        del definition.volume_mounts[:]
        definition.volume_mounts.extend(volume_mounts(options.volume_mounts))
    if options.HasField("retry_policy"):
        definition.retries.CopyFrom(retry_policy(options.retry_policy))
    if options.HasField("timeout_secs"):
        definition.timeout = float(options.timeout_secs)
    if options.HasField("concurrency_limit"):
        definition.max_containers = options.concurrency_limit
    if options.HasField("warm_pool_size"):
        definition.min_containers = options.warm_pool_size
    if options.HasField("task_idle_timeout_secs"):
        definition.scaledown_window = float(options.task_idle_timeout_secs)
    return definition
