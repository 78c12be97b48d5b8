"""Who is calling: a Modal client with a token pair, or a container of a Modal function.

A Modal client presents `x-modal-token-id` / `x-modal-token-secret`: a pair made by
`nano-modal token create --modal` (_modal_token.py), or any id with the server's admin token
as the secret (`nm` by convention; what the tests use). A container runs
Modal's own entrypoint, whose client sends no credentials (Modal trusts its network); the
container's nano-modal token reaches it through `MODAL_OVERRIDE_HEADERS` as the same
`x-nano-modal-token` header nano-modal's own containers send.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ... import config
from ..._modal_token import is_invoke_only, valid_pair
from ..control import ControlPlane
from ..state import Container
from .protocol import SUPPORTED_MINOR

TOKEN_ID_HEADER = "x-modal-token-id"
TOKEN_SECRET_HEADER = "x-modal-token-secret"
CLIENT_VERSION_HEADER = "x-modal-client-version"

BAD_PAIR = (
    "nano-modal: the token pair is not valid on this server "
    "(make one with `nano-modal token create --modal`, as the server's admin)"
)
NO_CREDENTIALS = "nano-modal: no credentials: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"
OTHER_WORKSPACE = "the modal client protocol serves the default workspace only; use nano_modal in this container"
STALE_CONTAINER = "nano-modal: this container's token is no longer valid (the container was stopped)"


class Refused(Exception):
    """A call that is not let in, with the gRPC status and the one-line reason."""

    def __init__(self, code: Any, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Caller:
    container: Container | None  # None: a client with a valid pair
    invoke_only: bool = False  # a pair that may only call deployed functions (rpc_roles.MODAL_INVOKE_ONLY)


def identify(metadata: Iterable[tuple[str, Any]], admin_token: str, control: ControlPlane) -> Caller:
    import grpc  # local: this module's policy reads without it in tests

    headers = {key: str(value) for key, value in metadata}
    version = headers.get(CLIENT_VERSION_HEADER, "")
    if version and not version.startswith(SUPPORTED_MINOR + "."):
        raise Refused(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"nano-modal serves modal client {SUPPORTED_MINOR}.x; this client is {version}: "
            f"pip install 'modal~={SUPPORTED_MINOR}.0'",
        )
    container_token = headers.get(config.TOKEN_METADATA_KEY, "")
    if container_token:
        container = control.container_by_token(container_token)
        if container is None:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, STALE_CONTAINER)
        if control.app(container.app_id).workspace != config.DEFAULT_WORKSPACE:
            # This protocol names objects and ids of the default workspace only (workspaces.py
            # is not consulted here): another workspace's container may not use it at all.
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, OTHER_WORKSPACE)
        return Caller(container)
    secret = headers.get(TOKEN_SECRET_HEADER, "")
    if not secret and not headers.get(TOKEN_ID_HEADER):
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, NO_CREDENTIALS)
    admin = hmac.compare_digest(secret.encode(), admin_token.encode())
    token_id = headers.get(TOKEN_ID_HEADER, "")
    if not admin and not valid_pair(admin_token, token_id, secret):
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, BAD_PAIR)
    return Caller(None, invoke_only=not admin and is_invoke_only(token_id))


def invoke_only_refusal(method: str) -> str:
    return (
        "nano-modal: this token pair is invoke-only: it may look up and call functions of deployed apps, "
        f"not ModalClient/{method}"
    )
