"""Sticky sessions on a Server: `@nano_modal.sessioned()` and `server.sessions.start()` /
`.terminate(token)` (how the gateway routes them: _session_token.py).

```python
@app.server(port=8000)
@nano_modal.sessioned()
class Notebook: ...

session = Notebook.sessions.start(idle_timeout=600)
httpx.get(Notebook.get_url(), headers={"Modal-Authorization": f"Bearer {session.token}"})
```
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ._session_token import make_token, parse_token, session_params
from ._utils.aio import twin
from .exception import ExecutionError, InvalidError
from .proto import api_pb2
from .types import ServerSessionCredentials

if TYPE_CHECKING:
    from ._server import Server

T = TypeVar("T")
SESSIONED_MARK = "__nano_modal_sessioned__"
# How long start() waits for a container of the session's own: as Modal's, which waits up to
# 25 minutes for capacity before giving up.
SESSION_START_TIMEOUT = 25 * 60.0
SESSION_START_POLL = 0.2  # seconds between looks at whether the session's container is up
# A terminated session's container is idle: it stops at the scheduler's next look.
TERMINATED_SCALEDOWN_WINDOW = 0.01


def sessioned() -> Callable[[T], T]:
    """Give a Server sticky sessions: every request carries a session's token (from
    `server.sessions.start()`), and a session's requests all go to one container of its own
    until it is idle for its `idle_timeout` or terminated. Only with `@app.server()`."""

    def decorate(user_cls: T) -> T:
        if not isinstance(user_cls, type):
            raise InvalidError("@nano_modal.sessioned() goes on a Server class, not a method")
        setattr(user_cls, SESSIONED_MARK, True)
        return user_cls

    return decorate


def is_sessioned(user_cls: type) -> bool:
    return bool(getattr(user_cls, SESSIONED_MARK, False))


class ServerSessionsManager:
    """`Server.sessions`: start and terminate sticky sessions of a `@sessioned()` Server."""

    def __init__(self, server: Server) -> None:
        self._server = server

    @twin
    async def start(self, idle_timeout: int = 600) -> ServerSessionCredentials:
        """Start a session: a container of its own, kept while requests carrying the returned
        token come at least every `idle_timeout` seconds. Waits for that container to be up."""
        if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, int) or idle_timeout <= 0:
            raise InvalidError(f"idle_timeout must be a positive integer (seconds), got {idle_timeout!r}")
        client, located, definition = await self._server._definition()
        if not definition.web.sessioned:
            raise InvalidError(f"{self._server.name}: sessions need @nano_modal.sessioned() on the Server class")
        secret = secrets.token_urlsafe(32)
        options = api_pb2.FunctionDefinition()
        options.CopyFrom(definition)
        # One container, started now (min 1) and kept while the session is used (scaledown window).
        options.min_containers, options.max_containers, options.scaledown_window = 1, 1, idle_timeout
        request = api_pb2.FunctionBindParamsRequest(
            function_id=located.function_id, params=session_params(secret), definition=options
        )
        session_id = (await client.stub.FunctionBindParams(request)).function_id
        deadline = time.monotonic() + SESSION_START_TIMEOUT
        while not await _has_container(self._server, session_id):
            if time.monotonic() > deadline:
                raise ExecutionError(f"Failed to start session: no container in {SESSION_START_TIMEOUT:g}s")
            await asyncio.sleep(SESSION_START_POLL)
        # From now on the container stays only while the session is used.
        await client.stub.FunctionUpdateAutoscaler(
            api_pb2.FunctionUpdateAutoscalerRequest(function_id=session_id, min_containers=0)
        )
        return ServerSessionCredentials(session_id=session_id, token=make_token(session_id, secret))

    @twin
    async def terminate(self, token: str) -> None:
        """End a session: its container stops, and requests with its token are refused (404)."""
        parsed = parse_token(token)
        if parsed is None:
            raise InvalidError("not a session token (from Server.sessions.start())")
        client, located, _ = await self._server._definition()
        session_id, secret = parsed
        found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=session_id))
        if found.definition.parent_function_id != located.function_id or found.definition.bound_params != (
            session_params(secret)
        ):
            raise InvalidError(f"the token names no session of {self._server.name}")
        await client.stub.FunctionUpdateAutoscaler(
            api_pb2.FunctionUpdateAutoscalerRequest(
                function_id=session_id, min_containers=0, scaledown_window=TERMINATED_SCALEDOWN_WINDOW
            )
        )


async def _has_container(server: Server, function_id: str) -> bool:
    client, _ = await server._locate()
    request = api_pb2.FunctionGetRequest(function_id=function_id, include_stats=True)
    found: api_pb2.FunctionGetResponse = await client.stub.FunctionGet(request)
    return found.stats.num_total_runners > 0
