"""Web endpoints of functions whose inputs and outputs are another SDK's messages.

The HTTP gateway (gateway.py) speaks nano-modal's own web protocol to containers: the request
as a pickled ASGI-like message, the response as pickled generator items. A function defined
with the real `modal` client speaks Modal's instead; modal_compat/web.py implements this
interface for it, and the gateway asks it for each request to such a function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..proto import api_pb2
from .state import FunctionRuntime


class LastBody(bytes):
    """The response's last body chunk, when the protocol says which one it is: the gateway ends
    the response there instead of waiting for the call's end (which may come later: a client
    that has its whole response may hang up meanwhile, and must not cancel the call)."""


class ForeignWeb(Protocol):
    def owns(self, fn: FunctionRuntime) -> bool:
        """Whether requests to `fn` go through this protocol."""
        ...

    def request_input(self, message: dict[str, Any], method_name: str) -> api_pb2.FunctionInput:
        """The call's one input for a request (`message`: the gateway's request, body included);
        raises control.Invalid for a request it cannot carry."""
        ...

    def class_parameters(self, fn: FunctionRuntime, query: Mapping[str, str]) -> bytes | None:
        """The serialized parameters of the instance of class `fn` a request's query names, in
        the SDK's own format (None: the class takes none); raises control.Invalid naming a
        missing or malformed one."""
        ...

    def started(self, call_id: str, message: dict[str, Any]) -> None:
        """The call started: keep what the container reads besides its input (the body)."""
        ...

    def client_message(self, message: Mapping[str, Any]) -> bytes:
        """A WebSocket client's message (`websocket.receive`/`websocket.disconnect`) as the
        container reads it from the call's web channel."""
        ...

    def part(self, data: bytes) -> Any:
        """One generator item of the call, as the gateway relays it: the response start (a dict)
        or a body chunk (bytes, LastBody for the last; b"" for an item with nothing to relay);
        for a WebSocket session, the app's `websocket.accept`/`send`/`close` (dicts)."""
        ...
