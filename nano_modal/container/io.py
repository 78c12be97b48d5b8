"""The container's own link to the server: blocking gRPC, safe to use from any thread.

Its gRPC methods are made on first use from the service's descriptor, not by the generated
stub (api_pb2_grpc): that module costs ~15 ms to import and its stub builds all of the
service's ~130 methods, at every container start."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

# gRPC's C core logs to stderr, which is the user's function log; under gVisor it logs an error
# about a socket option at every connection. Its failures reach the code as exceptions anyway.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc

from .. import config
from .._fast_lane import UNARY_METHODS, BlockingFastLane
from .._fast_lane import address as fast_lane_address
from ..proto import api_pb2

SERVICE = "/" + api_pb2.DESCRIPTOR.services_by_name["NanoModal"].full_name + "/"


class ContainerIO:
    def __init__(self) -> None:
        self.server_url = os.environ[config.ENV_SERVER_URL]
        self.container_id = os.environ[config.ENV_CONTAINER_ID]
        self._metadata = ((config.TOKEN_METADATA_KEY, os.environ[config.ENV_TOKEN]),)
        self._channel = grpc.insecure_channel(self.server_url, options=config.grpc_channel_options())
        self._unary: dict[str, Any] = {}  # method name -> its gRPC callable, made on first use
        self._fast: BlockingFastLane | None = None

    def call(self, method: str, request: Any, timeout: float = 30.0) -> Any:
        if self._fast is not None and method in UNARY_METHODS:
            try:
                return self._fast.call(method, request, timeout)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                self._fast = None  # the fast lane is gone: gRPC from now on
        return self._unary_method(method)(request, metadata=self._metadata, timeout=timeout)

    def _unary_method(self, method: str) -> Any:
        found = self._unary.get(method)
        if found is None:
            request_type, response_type = UNARY_METHODS[method]
            found = self._unary[method] = self._channel.unary_unary(
                SERVICE + method,
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString,
            )
        return found

    def hello(self) -> api_pb2.ContainerHelloResponse:
        response: api_pb2.ContainerHelloResponse = self.call(
            "ContainerHello", api_pb2.ContainerHelloRequest(container_id=self.container_id)
        )
        address = fast_lane_address(self.server_url, response.fast_lane_port)
        if address:
            self._fast = BlockingFastLane(address, os.environ[config.ENV_TOKEN])
        return response

    def get_inputs(self, max_inputs: int, timeout: float) -> api_pb2.ContainerGetInputsResponse:
        request = api_pb2.ContainerGetInputsRequest(
            container_id=self.container_id, max_inputs=max_inputs, timeout=timeout
        )
        response: api_pb2.ContainerGetInputsResponse = self.call("ContainerGetInputs", request, timeout=timeout + 30)
        return response

    def put_outputs(self, outputs: list[api_pb2.FunctionOutput], released: list[str] | None = None) -> None:
        request = api_pb2.ContainerPutOutputsRequest(
            container_id=self.container_id, outputs=outputs, released_input_ids=released or []
        )
        self.call("ContainerPutOutputs", request)

    def payload(self, data: bytes) -> api_pb2.Payload:
        if len(data) <= config.INLINE_PAYLOAD_LIMIT:
            return api_pb2.Payload(data=data)
        blob_id = hashlib.sha256(data).hexdigest()
        if not self.call("BlobHas", api_pb2.BlobHasRequest(blob_id=blob_id)).exists:
            step = config.BLOB_CHUNK_SIZE

            def chunks() -> Iterator[api_pb2.BlobChunk]:
                for start in range(0, len(data), step):
                    yield api_pb2.BlobChunk(blob_id=blob_id if start == 0 else "", data=data[start : start + step])

            put = self._channel.stream_unary(
                SERVICE + "BlobPut",
                request_serializer=api_pb2.BlobChunk.SerializeToString,
                response_deserializer=api_pb2.BlobPutResponse.FromString,
            )
            put(chunks(), metadata=self._metadata, timeout=600)
        return api_pb2.Payload(blob_id=blob_id)

    def read_payload(self, payload: api_pb2.Payload) -> bytes:
        return self.read_blob(payload.blob_id) if payload.blob_id else payload.data

    def read_blob(self, blob_id: str) -> bytes:
        get = self._channel.unary_stream(
            SERVICE + "BlobGet",
            request_serializer=api_pb2.BlobGetRequest.SerializeToString,
            response_deserializer=api_pb2.BlobChunk.FromString,
        )
        stream = get(api_pb2.BlobGetRequest(blob_id=blob_id), metadata=self._metadata, timeout=600)
        return b"".join(chunk.data for chunk in stream)
