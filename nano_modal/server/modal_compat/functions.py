"""Functions and their calls: create, map/remote (inputs in, outputs out).

A Modal function becomes a nano-modal function whose definition names a *bundle* (a blob:
Modal's own `Function` message and the files of its mounts) instead of nano-modal code;
its containers run Modal's entrypoint on that bundle (container/modal_entrypoint.py). Each
input's payload is Modal's `FunctionInput` message as the client sent it, each output's is
Modal's `FunctionPutOutputsItem` as the container sent it (after `OUTPUT_MARK`): nano-modal
queues, places, retries and records them without reading them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from ...container.modal_entrypoint import (
    ENV_APP_ID,
    ENV_BUNDLE,
    ENV_FUNCTION_ID,
    ENV_LAYOUT,
    ENV_PARAMS,
    handle_metadata,
)
from ...proto import api_pb2 as npb
from ...types import FunctionCurrentStats
from ..function_admin import function_stats
from ..store import OutputRow
from .auth import Refused
from .base import BUNDLE_MARKER, Call
from .image_context import mount_files
from .images import load_spec
from .serialized_python import python_mismatch, warning_metadata
from .web import WebRpcs, method_endpoints, web_endpoint

OUTPUT_MARK = b"modal-compat:1\n"  # an output's data that is Modal's FunctionPutOutputsItem
MAX_INPUTS_OUTSTANDING = 1000  # inputs of one map the client may have in flight
OUTPUTS_POLL_LIMIT = 50.0  # seconds one FunctionGetOutputs waits at most (the client asks for 55)
_KINDS = {"unary": npb.CALL_KIND_REMOTE, "map": npb.CALL_KIND_MAP}


def container_env(fn: Any, app_functions: dict[str, list[str]]) -> dict[str, str]:
    """The environment that makes a container of `fn` run Modal's entrypoint (none for others)."""
    definition = fn.definition
    if definition.module_name != BUNDLE_MARKER:
        return {}
    return {
        ENV_PARAMS: base64.b64encode(definition.bound_params).decode(),  # a class instance's parameters
        ENV_BUNDLE: definition.source_blob_id,
        ENV_FUNCTION_ID: fn.function_id,
        ENV_APP_ID: fn.app_id,
        ENV_LAYOUT: json.dumps(app_functions),
    }


def function_data(pb: Any, function: Any) -> Any:
    """What the client reads about a function it created or looked up (its FunctionInfo)."""
    return pb.FunctionData(
        module_name=function.module_name,
        function_name=function.function_name,
        function_type=function.function_type,
        ranked_functions=[pb.FunctionData.RankedFunction(rank=0, function=function)],
    )


class FunctionRpcs(WebRpcs):
    async def FunctionPrecreate(self, request: Any, call: Call) -> Any:
        """The function's id before its definition (other functions' definitions may name it):
        a nano-modal function with a placeholder definition, completed by FunctionCreate."""
        call.admin()
        # The same name keeps its id: across deployments of a deployed app, and across the
        # reloads of `modal serve`, which defines the app's functions again in the same app.
        for fn in self.control.app_functions(request.app_id, include_retired=True):
            if fn.name == request.function_name:
                return self._precreated(request, fn.function_id)
        placeholder = npb.FunctionDefinition(name=request.function_name, module_name=BUNDLE_MARKER)
        return self._precreated(request, self.control.create_function(request.app_id, placeholder))

    def _precreated(self, request: Any, function_id: str) -> Any:
        return self.pb.FunctionPrecreateResponse(
            function_id=function_id,
            handle_metadata=self.pb.FunctionHandleMetadata(
                function_name=request.function_name,
                function_type=request.function_type,
                supported_input_formats=request.supported_input_formats,
                supported_output_formats=request.supported_output_formats,
                app_id=request.app_id,
            ),
        )

    async def FunctionCreate(self, request: Any, call: Call) -> Any:
        call.admin()
        function = request.function
        if request.HasField("function_data"):
            ranked = request.function_data.ranked_functions
            function = ranked[0].function if ranked else self.pb.Function()
        if any(m.sub_path for m in function.volume_mounts):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "nano-modal does not serve volume sub_path mounts yet")
        if any(m.oidc_auth_role_arn for m in function.cloud_bucket_mounts):
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                "CloudBucketMount(oidc_auth_role_arn=) needs modal.com's OIDC tokens: pass a secret with "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead",
            )
        files: dict[str, list[Any]] = {}
        for mount_id in function.mount_ids:
            files.update(mount_files(self.blobs, mount_id))
        bundle = json.dumps(
            {"function": base64.b64encode(function.SerializeToString()).decode(), "files": files}
        ).encode()
        bundle_id = hashlib.sha256(bundle).hexdigest()
        self.blobs.put(bundle_id, [bundle])
        definition = npb.FunctionDefinition(
            name=function.function_name,
            module_name=BUNDLE_MARKER,
            source_blob_id=bundle_id,
            is_generator=function.function_type == self.pb.Function.FUNCTION_TYPE_GENERATOR,
            timeout=float(function.timeout_secs or 0),
            max_containers=function.concurrency_limit,
            min_containers=function.warm_pool_size,
            scaledown_window=float(function.task_idle_timeout_secs or 0),
            retries=retry_policy(function.retry_policy),
            secret_ids=function.secret_ids,  # set in its containers' environment (ObjectPlane.container_env)
            is_class=function.is_class,  # its instances with parameters: FunctionBindParams (classes.py)
            cpu=function.resources.milli_cpu / 1000,  # 0 when the function asked for none: the default
            memory_mb=function.resources.memory_mb,
            ephemeral_disk_mb=function.resources.ephemeral_disk_mb,  # each container's disk (worker/disks.py)
            restrict_modal_access=function.untrusted,  # its containers' calls are narrowed (callers.py, base.py)
            # Synced into its containers by nano-modal (container/modal_volumes.py), bound by the worker.
            volume_mounts=volume_mounts(function.volume_mounts),
            # Copied in and back by the worker (nano_modal/_bucket_sync.py): nothing in the container.
            cloud_bucket_mounts=[
                npb.CloudBucketMount(
                    mount_path=m.mount_path,
                    bucket_name=m.bucket_name,
                    bucket_endpoint_url=m.bucket_endpoint_url,
                    key_prefix=m.key_prefix,
                    secret_ids=[m.credentials_secret_id] if m.credentials_secret_id else [],
                    read_only=m.read_only,
                    requester_pays=m.requester_pays,
                    force_path_style=m.force_path_style,
                )
                for m in function.cloud_bucket_mounts
            ],
        )
        image = load_spec(self.blobs, function.image_id)
        if image is not None:  # built by the worker before the first container (images.py)
            definition.image.CopyFrom(image)
        headers = {key: str(value) for key, value in call.context.invocation_metadata() or ()}
        mismatch = python_mismatch(function, image, headers)
        if mismatch:  # the client prints it; the function is created all the same, as on Modal
            call.context.set_trailing_metadata(warning_metadata(mismatch))
        web = web_endpoint(function.webhook_config)
        if web is not None:  # nano-modal's HTTP gateway routes its requests (web.py)
            definition.web.CopyFrom(web)
        definition.methods.extend(method_endpoints(function))
        function_id = request.existing_function_id
        if function_id:
            self._replace_definition(function_id, definition)
        else:
            function_id = self.control.create_function(request.app_id, definition)
        metadata = handle_metadata(self.pb, function, request.app_id)
        self.add_web_urls(request.app_id, function, metadata)
        data = function_data(self.pb, function)
        return self.pb.FunctionCreateResponse(
            function_id=function_id, function=function, handle_metadata=metadata, function_data=data
        )

    def _replace_definition(self, function_id: str, definition: npb.FunctionDefinition) -> None:
        """A precreated function gets its definition; one defined before (`modal serve` reloading
        changed code into the same app) also loses its containers, which run the old code."""
        fn = self.control._function(function_id)
        changed = fn.definition.source_blob_id not in ("", definition.source_blob_id)
        self.control.redefine_function(function_id, definition)
        if changed:
            for container in self.control.live_containers(fn):
                self.control.stop_container(container)

    # --- calls -----------------------------------------------------------------------

    def _nano_inputs(self, items: Any) -> list[npb.FunctionInput]:
        """Modal's inputs as they came (large arguments stay in the blob the client uploaded)."""
        return [
            npb.FunctionInput(
                idx=item.idx,
                args=npb.Payload(data=item.input.SerializeToString()),
                method_name=item.input.method_name,
            )
            for item in items
        ]

    def _input_ids(self, function_id: str, call_id: str) -> dict[int, str]:
        """Input ids of a call's queued inputs by idx (read before any container could take them)."""
        queue = self.control._function(function_id).queue
        return {q.idx: q.input_id for q in queue if q.call_id == call_id}

    async def FunctionMap(self, request: Any, call: Call) -> Any:
        kind = (
            npb.CALL_KIND_MAP if request.function_call_type == self.pb.FUNCTION_CALL_TYPE_MAP else npb.CALL_KIND_REMOTE
        )
        inputs = self._nano_inputs(request.pipelined_inputs)
        started = self.control.start_call(request.function_id, kind, inputs, kind == npb.CALL_KIND_REMOTE)
        ids = self._input_ids(request.function_id, started.call_id)
        return self.pb.FunctionMapResponse(
            function_call_id=started.call_id,
            pipelined_inputs=[
                self.pb.FunctionPutInputsResponseItem(idx=i.idx, input_id=ids.get(i.idx, "")) for i in inputs
            ],
            retry_policy=self.pb.FunctionRetryPolicy(retries=0),
            max_inputs_outstanding=MAX_INPUTS_OUTSTANDING,
        )

    async def FunctionGetCurrentStats(self, request: Any, call: Call) -> Any:
        """`Function.get_current_stats()`: the same numbers as nano-modal's SDK gets (function_admin.py)."""
        stats = function_stats(self.control, request.function_id)
        definition = self.control._function(request.function_id).definition
        current = FunctionCurrentStats.of(
            int(stats.backlog),
            stats.num_total_runners,
            stats.num_running_inputs,
            definition.max_concurrent_inputs or definition.batch_max_size,
        )
        return self.pb.FunctionStats(
            backlog=current.backlog,
            num_total_tasks=current.num_total_runners,
            num_running_inputs=current.num_running_inputs,
            input_headroom=current.input_headroom,
        )

    async def FunctionPutInputs(self, request: Any, call: Call) -> Any:
        inputs = self._nano_inputs(request.inputs)
        started = self.control.get_call(request.function_call_id)
        self.control.add_inputs(started, inputs, False)
        ids = self._input_ids(started.function_id, started.call_id)
        return self.pb.FunctionPutInputsResponse(
            inputs=[self.pb.FunctionPutInputsResponseItem(idx=i.idx, input_id=ids.get(i.idx, "")) for i in inputs]
        )

    async def FunctionGetOutputs(self, request: Any, call: Call) -> Any:
        """Final outputs after the client's cursor, waiting up to its timeout for one. A
        generator's items (non-final outputs) are read with FunctionCallGetDataOut instead."""
        started = self.control.get_call(request.function_call_id)
        cursor = _cursor(request.last_entry_id)
        limit = request.max_values or 1000
        one_input = bool(request.start_idx or request.end_idx)  # .remote/.get of one input: only its output
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(request.timeout, 0.0), OUTPUTS_POLL_LIMIT)
        while True:
            remaining = max(0.0, deadline - loop.time())
            rows, started = await self.control.wait_outputs(started.call_id, cursor, 1000, remaining)
            cursor = rows[-1].cursor if rows else cursor
            finals = [r for r in rows if r.final and (not one_input or request.start_idx <= r.idx <= request.end_idx)]
            if finals or not rows or remaining <= 0:
                break
        finals = finals[:limit]
        return self.pb.FunctionGetOutputsResponse(
            outputs=[self._output_item(r) for r in finals],
            last_entry_id=str(finals[-1].cursor if len(finals) == limit else cursor),
            num_unfinished_inputs=started.num_inputs - started.num_final,
        )

    async def FunctionCallPutDataOut(self, request: Any, call: Call) -> Any:
        """A generator's items, from the container running it: kept as the call's non-final outputs."""
        container = call.container()
        held = [i for i in container.held.values() if i.call_id == request.function_call_id]
        if not held:
            return self.proto.empty()  # the input was cancelled or reassigned: its items are dropped
        outputs = [
            npb.FunctionOutput(
                input_id=held[0].input_id,
                status=npb.OUTPUT_STATUS_GENERATOR_ITEM,
                data=npb.Payload(data=chunk.SerializeToString()),
            )
            for chunk in request.data_chunks
        ]
        await self.control.put_outputs(container, outputs, [])
        return self.proto.empty()

    async def FunctionCallGetDataOut(self, request: Any, call: Call) -> AsyncIterator[Any]:
        """A generator's items after `last_index`, as they come, until the call is done."""
        started = self.control.get_call(request.function_call_id)
        cursor = 0
        while True:
            rows, started = await self.control.wait_outputs(started.call_id, cursor, 1000, OUTPUTS_POLL_LIMIT)
            for row in rows:
                if not row.final:
                    chunk = self.pb.DataChunk.FromString(row.data)
                    if chunk.index > request.last_index:
                        yield chunk
            cursor = rows[-1].cursor if rows else cursor
            if started.done and not rows:
                return

    async def FunctionCallCancel(self, request: Any, call: Call) -> Any:
        """FunctionCall.cancel(): queued inputs fail as cancelled; containers running one stop."""
        self.control.cancel_call(request.function_call_id)
        await self.control.outputs_written()  # durable before the answer
        return self.proto.empty()

    def _output_item(self, row: OutputRow) -> Any:
        if row.data.startswith(OUTPUT_MARK):
            sent = self.pb.FunctionPutOutputsItem.FromString(row.data[len(OUTPUT_MARK) :])
            return self.pb.FunctionGetOutputsItem(
                result=sent.result, idx=row.idx, input_id=row.input_id, data_format=sent.data_format
            )
        # Written by nano-modal itself: the container died, timed out, could not start...
        statuses: dict[int, Any] = {
            npb.OUTPUT_STATUS_TIMEOUT: self.pb.GenericResult.GENERIC_STATUS_TIMEOUT,
            npb.OUTPUT_STATUS_INIT_FAILURE: self.pb.GenericResult.GENERIC_STATUS_INIT_FAILURE,
            npb.OUTPUT_STATUS_CANCELLED: self.pb.GenericResult.GENERIC_STATUS_TERMINATED,
        }
        status = statuses.get(int(row.status), self.pb.GenericResult.GENERIC_STATUS_FAILURE)
        result = self.pb.GenericResult(
            status=status, exception=row.exception_repr or "the input failed", traceback=row.traceback
        )
        return self.pb.FunctionGetOutputsItem(result=result, idx=row.idx, input_id=row.input_id)


def volume_mounts(mounts: Any) -> list[npb.VolumeMount]:
    """Modal's volume mounts as nano-modal's (synced into the containers, container/modal_volumes.py)."""
    return [npb.VolumeMount(mount_path=m.mount_path, volume_id=m.volume_id, read_only=m.read_only) for m in mounts]


def retry_policy(policy: Any) -> npb.RetryPolicy:
    """Modal's retries=, run by nano-modal's server (the client is told to retry nothing itself)."""
    return npb.RetryPolicy(
        max_retries=policy.retries,
        backoff_coefficient=policy.backoff_coefficient,
        initial_delay=policy.initial_delay_ms / 1000,
        max_delay=policy.max_delay_ms / 1000,
    )


def _cursor(last_entry_id: str) -> int:
    """Modal's entry ids look like "0-0"; ours are the call's output cursor."""
    try:
        return int(last_entry_id)
    except ValueError:
        return 0
