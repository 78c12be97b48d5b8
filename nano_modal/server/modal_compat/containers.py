"""What Modal's container entrypoint calls: hello, inputs, outputs, heartbeats, stop.

The caller is the container its token names (auth.py); each method maps onto the same
control-plane calls nano-modal's own containers make (service.py: ContainerHello,
ContainerGetInputs, ContainerPutOutputs...).
"""

from __future__ import annotations

import time
from typing import Any

from ...proto import api_pb2 as npb
from .base import Call, ServiceBase
from .functions import OUTPUT_MARK

INPUTS_POLL = 20.0  # seconds one FunctionGetInputs waits for an input (the entrypoint asks again at once)


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
        return self.pb.FunctionGetInputsResponse(
            inputs=[
                self.pb.FunctionGetInputsItem(
                    input_id=item.input_id,
                    input=self.pb.FunctionInput.FromString(item.args.data),
                    function_call_id=item.call_id,
                    function_map_idx=item.idx,
                    function_call_invocation_type=self.pb.FUNCTION_CALL_INVOCATION_TYPE_SYNC,
                )
                for item in batch
            ]
        )

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
        call.container()
        return self.proto.empty()

    async def ContainerStop(self, request: Any, call: Call) -> Any:
        call.container()  # the entrypoint exits next; the worker reports the exit
        return self.proto.empty()
