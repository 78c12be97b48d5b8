"""The container's own link to the server: blocking gRPC, safe to use from any thread.

Its gRPC methods are made on first use from the service's descriptor, not by the generated
stub (api_pb2_grpc): that module costs ~15 ms to import and its stub builds all of the
service's ~130 methods, at every container start."""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
import time
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

# Calls resent after a timeout or a lost connection, for up to config.SERVER_WAIT_TIMEOUT (the
# server's own store-retry window), as the SDK's client resends its idempotent calls: a server
# that stalls on its store must not crash its containers and run their inputs again. A heartbeat
# changes nothing; a resent ContainerGetInputs keeps its request_seq and gets the same inputs; a
# resent put of final outputs is answered once the first one's write is durable (server/outputs.py).
RESENT_CALLS = frozenset({"ContainerGetInputs", "ContainerHeartbeat", "ContainerPutOutputs", "BlobHas"})
_RESENT_AFTER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_FIRST_BACKOFF, _MAX_BACKOFF = 0.1, 2.0  # seconds between resends, doubling


class ContainerIO:
    def __init__(self) -> None:
        self.server_url = os.environ[config.ENV_SERVER_URL]
        self.container_id = os.environ[config.ENV_CONTAINER_ID]
        self._metadata = ((config.TOKEN_METADATA_KEY, os.environ[config.ENV_TOKEN]),)
        self._channel = grpc.insecure_channel(self.server_url, options=config.grpc_channel_options())
        self._unary: dict[str, Any] = {}  # method name -> its gRPC callable, made on first use
        self._fast: BlockingFastLane | None = None
        self._get_inputs_seq = itertools.count(1)  # ContainerGetInputsRequest.request_seq

    def call(self, method: str, request: Any, timeout: float | None = None, resend: bool | None = None) -> Any:
        """`timeout`: for one answer (config.CONTAINER_CALL_TIMEOUT unless told); `resend`:
        whether to resend after a timeout or a lost connection (default: for RESENT_CALLS)."""
        timeout = config.CONTAINER_CALL_TIMEOUT if timeout is None else timeout
        if not (method in RESENT_CALLS if resend is None else resend):
            return self._call_once(method, request, timeout)
        started = time.monotonic()
        backoff, said_waiting = _FIRST_BACKOFF, False
        while True:
            try:
                return self._call_once(method, request, timeout)
            except grpc.RpcError as exc:
                waited = time.monotonic() - started
                if exc.code() not in _RESENT_AFTER or waited + backoff > config.SERVER_WAIT_TIMEOUT:
                    raise
                if not said_waiting and waited >= config.SERVER_WAIT_NOTICE:
                    said_waiting = True  # in the container's log: waiting, not hung
                    print(f"nano-modal: waiting for the server ({method} resent after {waited:.0f}s)", file=sys.stderr)
            time.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _call_once(self, method: str, request: Any, timeout: float) -> Any:
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
            os.environ[config.ENV_FAST_LANE_PORT] = str(response.fast_lane_port)  # for the code's own client
        return response

    def get_inputs(self, max_inputs: int, timeout: float) -> api_pb2.ContainerGetInputsResponse:
        request = api_pb2.ContainerGetInputsRequest(
            container_id=self.container_id,
            max_inputs=max_inputs,
            timeout=timeout,
            request_seq=next(self._get_inputs_seq),
        )
        response: api_pb2.ContainerGetInputsResponse = self.call(
            "ContainerGetInputs", request, timeout=timeout + config.CONTAINER_CALL_TIMEOUT
        )
        return response

    def put_outputs(self, outputs: list[api_pb2.FunctionOutput], released: list[str] | None = None) -> None:
        request = api_pb2.ContainerPutOutputsRequest(
            container_id=self.container_id, outputs=outputs, released_input_ids=released or []
        )
        # A generator's items are not deduplicated by the server: a put of one is sent once.
        streamed = any(o.status == api_pb2.OUTPUT_STATUS_GENERATOR_ITEM for o in outputs)
        self.call("ContainerPutOutputs", request, resend=not streamed)

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
