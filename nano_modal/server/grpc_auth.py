"""The gRPC port's gate: a call whose token the server does not know is refused before its
request message is read (docs/SECURITY.md, "The server").

gRPC reads a whole request message (up to 64 MiB) before the method's handler runs, and the
handlers are where tokens were checked: a peer without a token could make the server hold a
dozen such messages at once. An aio server interceptor runs when the call's headers arrive,
before any message: unknown tokens get a handler that answers UNAUTHENTICATED without
reading. The methods still check who the caller is and what it may do, as before.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from .. import config
from .._modal_token import valid_pair
from .modal_compat.auth import BAD_PAIR, NO_CREDENTIALS, TOKEN_ID_HEADER, TOKEN_SECRET_HEADER
from .modal_compat.router_access import ROUTER_PREFIX, task_of

log = logging.getLogger("nano_modal.server")

# Answers whether a token is known: True, False, or None when it cannot tell now (a follower
# with no active server: the caller is told UNAVAILABLE and retries).
TokenCheck = Callable[[str], Awaitable[bool | None]]
# Modal's own client protocol (server/modal_compat/) carries its token as the secret of a pair.
MODAL_CLIENT_PREFIX = "/modal.client.ModalClient/"


class TokenGate(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, valid_token: TokenCheck, admin_token: str = "", calls: Counter[str] | None = None) -> None:
        self._valid_token = valid_token
        self._admin_token = admin_token  # checks the Modal client's pairs made from it (_modal_token.py)
        self.calls: Counter[str] = Counter() if calls is None else calls  # per method (/_/metrics)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        self.calls[handler_call_details.method.rsplit("/", 1)[-1]] += 1
        headers = {key: str(value) for key, value in handler_call_details.invocation_metadata or ()}
        token = headers.get(config.TOKEN_METADATA_KEY, "")
        modal_client = handler_call_details.method.startswith(MODAL_CLIENT_PREFIX)
        if handler_call_details.method.startswith(ROUTER_PREFIX) and not token:
            # Modal's task command router: a JWT this server signed (modal_compat/router_access.py),
            # checked again for the container it names by the router itself.
            if task_of(self._admin_token, headers.get("authorization", "")) is not None:
                return await continuation(handler_call_details)
            return _refusal(grpc.StatusCode.UNAUTHENTICATED, "nano-modal: the command router's JWT is not valid")
        if modal_client and not token:  # the real `modal` client's pair (modal_compat/auth.py)
            token = headers.get(TOKEN_SECRET_HEADER, "")
            pair_id = headers.get(TOKEN_ID_HEADER, "")
            if self._admin_token and valid_pair(self._admin_token, pair_id, token):
                return await continuation(handler_call_details)
        valid = await self._valid_token(token)  # a token, or (Modal client) a secret that is one
        if valid:
            return await continuation(handler_call_details)
        if valid is None:
            return _refusal(grpc.StatusCode.UNAVAILABLE, "no active server right now: try again")
        if modal_client:
            return _refusal(grpc.StatusCode.UNAUTHENTICATED, BAD_PAIR if token else NO_CREDENTIALS)
        return _refusal(grpc.StatusCode.UNAUTHENTICATED, "invalid or missing token")


def _refusal(code: grpc.StatusCode, details: str) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler that never reads the request: streaming both ways, so gRPC hands it the
    request stream unread, whatever the method's own shape."""

    async def refuse(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if code == grpc.StatusCode.UNAUTHENTICATED:
            # E.g. a container of a worker declared dead, back from a partition.
            log.info("refused a call from %s: its token is no longer valid, or never was", context.peer())
        await context.abort(code, details)

    return grpc.stream_stream_rpc_method_handler(refuse)
