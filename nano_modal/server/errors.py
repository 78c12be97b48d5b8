"""The server's errors, each with the gRPC status a client receives for it.

Raised anywhere in the control plane; translated once, at the RPC boundary (service.py
`translate_errors`), never in each handler.
"""

from __future__ import annotations

import grpc


class ServerError(Exception):
    """An error whose message is for the caller."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL


class NotFound(ServerError):
    status = grpc.StatusCode.NOT_FOUND


class Invalid(ServerError):
    status = grpc.StatusCode.INVALID_ARGUMENT


class StoreUnavailable(ServerError):
    """The state store cannot be reached right now. UNAVAILABLE: clients retry the call with
    backoff (as for a restarting server), and it succeeds once the database is back."""

    status = grpc.StatusCode.UNAVAILABLE
