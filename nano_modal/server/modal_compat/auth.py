"""Who is calling: a Modal client with a token pair, or a container of a Modal function.

A Modal client presents `x-modal-token-id` / `x-modal-token-secret`:
- a pair made by `nano-modal token create --modal` (_modal_token.py): the default workspace's;
- a pair made by `nano-modal token create --modal --workspace W`: its secret is a token of W
  (workspaces.py: kept as a digest only, invoke-only or not as the token is), its id a label;
  it acts in W, as that token does on nano-modal's own protocol;
- any id with the server's admin token as the secret (`nm` by convention; what the tests
  use): the operator, in the default workspace, whose ids are not checked (workspaces.py).
A container of a Modal function acts in its app's workspace. A container runs
Modal's own entrypoint, whose client sends no credentials (Modal trusts its network); the
container's nano-modal token reaches it through `MODAL_OVERRIDE_HEADERS` as the same
`x-nano-modal-token` header nano-modal's own containers send.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ... import config
from ..._modal_token import is_invoke_only, valid_pair
from ..control import ControlPlane
from ..state import Container
from ..workspaces import Principal
from .protocol import SERVER_MINOR, SUPPORTED_RANGE, is_supported_client

TOKEN_ID_HEADER = "x-modal-token-id"
TOKEN_SECRET_HEADER = "x-modal-token-secret"
CLIENT_VERSION_HEADER = "x-modal-client-version"

BAD_PAIR = (
    "nano-modal: the token pair is not valid on this server "
    "(make one with `nano-modal token create --modal [--workspace W]`)"
)
NO_CREDENTIALS = "nano-modal: no credentials: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"
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
    workspace: str = config.DEFAULT_WORKSPACE  # where its names are looked up and its ids must be
    operator: bool = False  # the server's admin token itself: its ids are not checked

    def principal(self) -> Principal:
        return Principal(self.workspace, self.container, self.invoke_only, self.operator)


def identify(
    metadata: Iterable[tuple[str, Any]],
    admin_token: str,
    control: ControlPlane,
    workspace_token: Callable[[str], Principal | None] = lambda token: None,
) -> Caller:
    """`workspace_token`: the workspace a nano-modal workspace token speaks for (Workspaces.find)."""
    import grpc  # local: this module's policy reads without it in tests

    headers = {key: str(value) for key, value in metadata}
    version = headers.get(CLIENT_VERSION_HEADER, "")
    if version and not is_supported_client(version):
        raise Refused(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"nano-modal serves {SUPPORTED_RANGE} clients; this client is {version}: "
            f"pip install 'modal~={SERVER_MINOR}.0'",
        )
    container_token = headers.get(config.TOKEN_METADATA_KEY, "")
    if container_token:
        container = control.container_by_token(container_token)
        if container is None:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, STALE_CONTAINER)
        return Caller(container, workspace=control.app(container.app_id).workspace)
    secret = headers.get(TOKEN_SECRET_HEADER, "")
    if not secret and not headers.get(TOKEN_ID_HEADER):
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, NO_CREDENTIALS)
    if hmac.compare_digest(secret.encode(), admin_token.encode()):
        return Caller(None, operator=True)
    token_id = headers.get(TOKEN_ID_HEADER, "")
    if valid_pair(admin_token, token_id, secret):
        return Caller(None, invoke_only=is_invoke_only(token_id))
    found = workspace_token(secret)
    if found is None:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, BAD_PAIR)
    return Caller(None, invoke_only=found.invoke_only, workspace=found.workspace)


def invoke_only_refusal(method: str) -> str:
    return (
        "nano-modal: this token pair is invoke-only: it may look up and call functions of deployed apps, "
        f"not ModalClient/{method}"
    )
