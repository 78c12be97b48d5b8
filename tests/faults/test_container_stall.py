"""A container rides out a server that stalls (waiting for its store, say) instead of crashing
and running its input again (issue 16's leftover: a put of outputs that timed out crashed the
container). Its idempotent calls are resent, as the SDK's client resends its own."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import grpc.aio
import pytest

from nano_modal import config
from nano_modal.container.io import ContainerIO
from nano_modal.proto import api_pb2, api_pb2_grpc

ATTEMPT_TIMEOUT = 0.5  # seconds the container waits for one answer here (30 s by default)


class _StallsOnce(api_pb2_grpc.NanoModalServicer):
    """Each container call goes unanswered the first time, and is answered the second."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.input_requests: list[int] = []  # request_seq of each ContainerGetInputs received
        self.outputs: list[str] = []  # input ids of the puts received

    async def _stall_first(self, method: str) -> None:
        self.calls[method] += 1
        if self.calls[method] == 1:
            await asyncio.sleep(3600)

    async def ContainerGetInputs(self, request: api_pb2.ContainerGetInputsRequest, context: Any) -> Any:
        self.input_requests.append(request.request_seq)
        await self._stall_first("ContainerGetInputs")
        return api_pb2.ContainerGetInputsResponse(inputs=[api_pb2.ContainerInput(input_id="in-1")])

    async def ContainerPutOutputs(self, request: api_pb2.ContainerPutOutputsRequest, context: Any) -> Any:
        self.outputs += [o.input_id for o in request.outputs]
        await self._stall_first("ContainerPutOutputs")
        return api_pb2.Empty()

    async def ContainerHeartbeat(self, request: api_pb2.ContainerHeartbeatRequest, context: Any) -> Any:
        await self._stall_first("ContainerHeartbeat")
        return api_pb2.ContainerHeartbeatResponse()

    async def ContainerInitFailed(self, request: api_pb2.ContainerInitFailedRequest, context: Any) -> Any:
        await self._stall_first("ContainerInitFailed")
        return api_pb2.Empty()


def test_a_container_resends_its_idempotent_calls_through_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "CONTAINER_CALL_TIMEOUT", ATTEMPT_TIMEOUT)
    servicer = _StallsOnce()

    def container_side(io: ContainerIO) -> tuple[list[str], grpc.StatusCode]:
        got = io.get_inputs(1, 0.0)
        io.get_inputs(1, 0.0)  # the next request: a new number
        io.call("ContainerHeartbeat", api_pb2.ContainerHeartbeatRequest(container_id=io.container_id), timeout=0.5)
        io.put_outputs([api_pb2.FunctionOutput(input_id="in-1", status=api_pb2.OUTPUT_STATUS_SUCCESS)])
        with pytest.raises(grpc.RpcError) as not_resent:  # not idempotent: one try, as before
            io.call("ContainerInitFailed", api_pb2.ContainerInitFailedRequest(), timeout=0.5)
        return [i.input_id for i in got.inputs], not_resent.value.code()

    async def scenario() -> tuple[list[str], grpc.StatusCode]:
        server = grpc.aio.server()
        api_pb2_grpc.add_NanoModalServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        monkeypatch.setenv(config.ENV_SERVER_URL, f"127.0.0.1:{port}")
        monkeypatch.setenv(config.ENV_CONTAINER_ID, "ct-1")
        monkeypatch.setenv(config.ENV_TOKEN, "token")
        try:
            return await asyncio.to_thread(container_side, ContainerIO())
        finally:
            await server.stop(0)

    got, init_failed = asyncio.run(scenario())
    assert got == ["in-1"]
    assert servicer.input_requests == [1, 1, 2]  # resent with its number, then the next one
    assert servicer.calls["ContainerHeartbeat"] == 2
    assert servicer.outputs == ["in-1", "in-1"]  # resent: the server answers it once the first is durable
    assert init_failed == grpc.StatusCode.DEADLINE_EXCEEDED and servicer.calls["ContainerInitFailed"] == 1
