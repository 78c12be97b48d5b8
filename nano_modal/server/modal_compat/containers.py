"""What Modal's container entrypoint calls: hello, inputs, outputs, heartbeats, stop.

The caller is the container its token names (auth.py); each method maps onto the same
control-plane calls nano-modal's own containers make (service.py: ContainerHello,
ContainerGetInputs, ContainerPutOutputs...).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from google.protobuf.message import DecodeError

from ... import config
from ...exception import InvalidError
from ...proto import api_pb2 as npb
from ...serialization import serialize_exception
from ..state import Container, QueuedInput
from .base import Call, ServiceBase
from .functions import OUTPUT_MARK

log = logging.getLogger("nano_modal.server.modal_compat")

FOREIGN_INPUT = (
    "this function was defined with the modal client, and this input was not sent by one"
    " (the nano_modal SDK's payloads differ): call it with the modal client"
)

INPUTS_POLL = 20.0  # seconds one FunctionGetInputs waits for an input (the entrypoint asks again at once)

_timers: set[asyncio.Task[None]] = set()  # pending timeout checks (a reference keeps each alive)


class ContainerRpcs(ServiceBase):
    async def ContainerHello(self, request: Any, call: Call) -> Any:
        container = call.container()
        container.last_heard = time.monotonic()
        self.control.container_hello(container)
        return self.proto.empty()

    async def ContainerHeartbeat(self, request: Any, call: Call) -> Any:
        call.container().last_heard = time.monotonic()
        return self.pb.ContainerHeartbeatResponse()

    async def FunctionGetInputs(self, request: Any, call: Call) -> Any:
        container = call.container()
        container.last_heard = time.monotonic()
        batch = await self.control.take_inputs(container, max(1, request.batch_max_size), INPUTS_POLL)
        if batch is None:  # stopped, scaled down or replaced: the entrypoint exits
            return self.pb.FunctionGetInputsResponse(inputs=[self.pb.FunctionGetInputsItem(kill_switch=True)])
        modal_inputs = await self._refuse_foreign_inputs(container, batch)
        timeout = self.control._function(container.function_id).definition.timeout or config.DEFAULT_TIMEOUT
        for item, _ in modal_inputs:
            timer = asyncio.create_task(self._enforce_timeout(container, item.input_id, timeout))
            _timers.add(timer)
            timer.add_done_callback(_timers.discard)
        return self.pb.FunctionGetInputsResponse(
            inputs=[
                self.pb.FunctionGetInputsItem(
                    input_id=item.input_id,
                    input=modal_input,
                    function_call_id=item.call_id,
                    function_map_idx=item.idx,
                    function_call_invocation_type=self.pb.FUNCTION_CALL_INVOCATION_TYPE_SYNC,
                )
                for item, modal_input in modal_inputs
            ]
        )

    async def _refuse_foreign_inputs(
        self, container: Container, batch: list[QueuedInput]
    ) -> list[tuple[QueuedInput, Any]]:
        """The inputs that are Modal's FunctionInput messages, with them; any other (a call from
        the nano_modal SDK, whose payloads are its own) fails at once with the reason, instead of
        reaching Modal's entrypoint, which could not read it."""
        readable: list[tuple[QueuedInput, Any]] = []
        refused: list[npb.FunctionOutput] = []
        for item in batch:
            try:
                if item.args.blob_id:
                    raise DecodeError("a blob payload")  # Modal's large arguments travel inside its message
                modal_input = self.pb.FunctionInput.FromString(item.args.data)
                if not (modal_input.args or modal_input.args_blob_id):  # bytes that parsed by chance
                    raise DecodeError("no arguments")
                readable.append((item, modal_input))
            except DecodeError:
                error = InvalidError(FOREIGN_INPUT)
                data, text, tb = serialize_exception(error)
                refused.append(
                    npb.FunctionOutput(
                        input_id=item.input_id,
                        status=npb.OUTPUT_STATUS_FAILURE,
                        data=npb.Payload(data=data),
                        exception_repr=text,
                        traceback=tb,
                    )
                )
        if refused:
            await self.control.put_outputs(container, refused, [])
        return readable

    async def _enforce_timeout(self, container: Container, input_id: str, timeout: float) -> None:
        """Modal's entrypoint does not stop an input that runs past the function's timeout (nano-modal's
        own containers do, container/watchdog.py): past it, the input fails with TIMEOUT (retried
        if the function has retries left) and its container is stopped, the only way to stop its code."""
        await asyncio.sleep(timeout)
        if input_id not in container.held or not container.live:
            return
        message = f"the input ran past the function's timeout of {timeout:g} s"
        log.info("container %s: %s; stopping it", container.container_id, message)
        timed_out = npb.FunctionOutput(input_id=input_id, status=npb.OUTPUT_STATUS_TIMEOUT, exception_repr=message)
        await self.control.put_outputs(container, [timed_out], [])
        self.control.stop_container(container)

    async def FunctionPutOutputs(self, request: Any, call: Call) -> Any:
        container = call.container()
        success = self.pb.GenericResult.GENERIC_STATUS_SUCCESS
        outputs = [
            npb.FunctionOutput(
                input_id=item.input_id,
                status=npb.OUTPUT_STATUS_SUCCESS if item.result.status == success else npb.OUTPUT_STATUS_FAILURE,
                data=npb.Payload(data=OUTPUT_MARK + item.SerializeToString()),
                exception_repr=item.result.exception,
                traceback=item.result.traceback,
            )
            for item in request.outputs
        ]
        await self.control.put_outputs(container, outputs, [])
        return self.proto.empty()

    async def TaskResult(self, request: Any, call: Call) -> Any:
        """The container failed outside any input (its module's import, an @enter hook): like
        nano-modal's ContainerInitFailed, every queued input fails with that exception instead of
        containers being restarted forever. The outputs carry Modal's result, so the caller gets
        the original exception."""
        container = call.container()
        if request.result.status == self.pb.GenericResult.GENERIC_STATUS_SUCCESS:
            return self.proto.empty()
        as_output = self.pb.FunctionPutOutputsItem(result=request.result, data_format=self.pb.DATA_FORMAT_PICKLE)
        failure = npb.ContainerInitFailedRequest(
            container_id=container.container_id,
            exception=npb.Payload(data=OUTPUT_MARK + as_output.SerializeToString()),
            exception_repr=request.result.exception,
            traceback=request.result.traceback,
        )
        self.control.container_init_failed(container, failure)
        return self.proto.empty()

    async def ContainerStop(self, request: Any, call: Call) -> Any:
        call.container()  # the entrypoint exits next; the worker reports the exit
        return self.pb.ContainerStopResponse()
