"""Requests to a `@modal.sessioned()` Server: each goes to the one container of the session its
token names (the token's rules: nano_modal/_session_token.py)."""

from __future__ import annotations

import hmac

from .._session_token import parse_token, session_params
from .control import ControlPlane, NotFound
from .state import FunctionRuntime


class NoSession(Exception):
    """The request names no session of this Server (a 401)."""


def session_function(control: ControlPlane, server: FunctionRuntime, header: str) -> str:
    """The function id of the live session the `Modal-Authorization` header names on `server`."""
    parsed = parse_token(header)
    if parsed is None:
        raise NoSession(
            f"{server.name} is sessioned: send a session's token (Server.sessions.start()) "
            "as Modal-Authorization: Bearer <token>"
        )
    function_id, secret = parsed
    session = control.functions.get(function_id)
    if (
        session is None
        or session.definition.parent_function_id != server.function_id
        or not hmac.compare_digest(session.definition.bound_params, session_params(secret))
    ):
        raise NoSession(f"the token names no session of {server.name}")
    if session_ended(control, function_id):
        raise NotFound(ended(function_id))
    return function_id


def session_ended(control: ControlPlane, session_id: str) -> bool:
    """Idle past its idle_timeout, or terminated: its container scaled down. Refused from then on,
    not once the worker reports the exit: a request let through meanwhile was queued, and a
    container started anew for it (a terminated session answered 200 after 60 s of requests)."""
    return all(c.scaled_down for c in control.containers.live_of_function(session_id))


def ended(session_id: str) -> str:
    return f"the session {session_id} has ended"
