"""Sticky sessions of a `@modal.sessioned()` Server: what the SDK, the gateway and the
container agree on.

A session is an instance of the Server class bound with one hidden parameter, the SHA-256 of
the session's secret: a pool of its own of at most one container, which the gateway sends every
request carrying the session's token to. The token is `<that instance's function id>.<secret>`:
the gateway finds the instance by the id and checks the secret against the parameter, so the
platform keeps no table of sessions (and holds only a hash of each secret)."""

from __future__ import annotations

import hashlib

from .serialization import serialize

SESSION_PARAM = "__nano_modal_session__"  # the hidden class parameter; the container drops it
SESSION_HEADER = "modal-authorization"  # as on Modal: `Modal-Authorization: Bearer <token>`


def session_params(secret: str) -> bytes:
    """The bound parameters of the session with this secret (byte-identical on every side)."""
    return serialize(((SESSION_PARAM, hashlib.sha256(secret.encode()).hexdigest()),))


def make_token(function_id: str, secret: str) -> str:
    return f"{function_id}.{secret}"


def parse_token(header: str) -> tuple[str, str] | None:
    """(function id, secret) of a `Bearer <token>` header value, or None if it holds none."""
    token = header.removeprefix("Bearer ").strip()
    function_id, dot, secret = token.partition(".")
    if not (dot and function_id.startswith("fu-") and secret):
        return None
    return function_id, secret
