"""The gateway relays a web response's body; a client that leaves once it has every byte the
response declared (Content-Length) has not abandoned it: the call is not cancelled, and the
container that answered is not stopped (a Server session's container is the session).
A real control plane and gateway; the container's parts stand in for its outputs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.blobs import BlobStore
from nano_modal.server.control import ControlPlane
from nano_modal.server.deployments import Deployments
from nano_modal.server.gateway import Gateway


def test_a_client_that_leaves_with_the_whole_body_does_not_stop_the_container(
    control: ControlPlane, tmp_path: Path
) -> None:
    app_id = control.create_app("web", ephemeral=True)
    function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="serve"))
    args = api_pb2.Payload(data=serialize(((), {})))
    call = control.start_call(function_id, api_pb2.CALL_KIND_GENERATOR, [api_pb2.FunctionInput(idx=0, args=args)], True)
    container = control.place_container(control.functions[function_id])
    assert container is not None
    control.container_hello(container)
    gateway = Gateway(control, Deployments(control), BlobStore(tmp_path / "blobs"))

    async def parts() -> AsyncIterator[Any]:
        yield b"hello"  # every byte of the declared 5; the proxy's end mark is still on its way
        await asyncio.Event().wait()

    async def client_reads_then_leaves() -> None:
        assert await control.take_inputs(container, 1, 0)  # the container runs the request
        body = gateway._body(parts(), call.call_id, 5)
        assert await anext(body) == b"hello"
        await body.aclose()  # the client has its 5 bytes and goes
        await control.outputs_written()

    asyncio.run(client_reads_then_leaves())
    assert not call.cancelled
    assert container.live and not container.ending
