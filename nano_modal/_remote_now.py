"""The blocking `.remote()`'s fast path: the whole call on the caller's thread, in one fast-lane
exchange (FunctionMap carrying the input and waiting for its output), with no hop to the SDK's
loop and back (two thread wake-ups, ~0.15 ms of a ~1.3 ms call here, docs/BENCHMARKS.md).

It declines (NOT_NOW, the usual path then runs) before sending anything when the function is
not hydrated or the client has no fast lane. Once the call is sent, whatever is left (an output
stored as a blob, prints still to show before the result, no output within the server's wait)
is finished on the SDK's loop by the usual code, for the same call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _log_sync, config
from ._runtime_context import current_input_id
from ._utils.aio import NOT_NOW, run_blocking
from .client import Client
from .function_call import _is_final, _raise_or_return, decode_output
from .proto import api_pb2
from .serialization import serialize_args

if TYPE_CHECKING:
    from .functions import Function


def remote_now(fn: Function, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    client = Client._instance
    if client is None or fn.object_id is None or fn.is_generator or client.stub.fast is None:
        return NOT_NOW
    data = serialize_args(fn.name, args, kwargs)
    if len(data) <= config.INLINE_PAYLOAD_LIMIT:
        payload = api_pb2.Payload(data=data)
    else:
        payload = api_pb2.Payload(blob_id=run_blocking(client.upload_blob(data)))
    wait = config.REMOTE_FAST_PATH_WAIT
    request = api_pb2.FunctionMapRequest(
        function_id=fn.object_id,
        kind=api_pb2.CALL_KIND_REMOTE,
        inputs_complete=True,
        inputs=[fn._input(0, payload)],
        wait_for_output=wait,
        parent_input_id=current_input_id() or "",  # a call graph's edge (as Function._start_call's)
    )
    response = client.stub.call_now("FunctionMap", request, timeout=wait + config.CONNECT_TIMEOUT * 2)
    if response is NOT_NOW:  # no fast lane now: the usual path sends the call (as it did before)
        return NOT_NOW
    final = next((o for o in response.outputs if _is_final(o)), None)
    if final is None or final.data.blob_id or _log_sync.must_wait(final.log_sync_lines):
        return run_blocking(fn._finish_remote(client, response))
    return _raise_or_return(decode_output(final, final.data.data, fn.name, fn.plain_results))
