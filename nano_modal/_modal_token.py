"""Token pairs for the real `modal` client (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET), one rule
for the CLI that makes them (`nano-modal token create --modal`) and the server that checks
them (server/modal_compat/auth.py).

A pair is an id (`ak-` and random hex) and a secret derived from it with the server's admin
token (an HMAC), so the server needs no state to accept it and the admin token itself is never
handed to Modal clients. A pair grants what the admin token grants through Modal's protocol,
unless its id says it is invoke-only (`ak-invoke-...`; the secret binds the id, so the id
cannot be changed): then it may only look up and call the functions of deployed apps, as
nano-modal's own invoke-only tokens (an application server's). Pairs cannot be revoked one by
one: changing the admin token revokes them all.

A pair of a workspace (`nano-modal token create --modal --workspace W`) is not derived: its
secret is a new token of W (server/workspaces.py, kept there as a digest only) and its id a
label of the same shape (`ak-invoke-` when the token is invoke-only, which the token itself
says). The server learns W from the secret, as for nano-modal's own clients.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ID_PREFIX = "ak-"  # as Modal's own token ids
INVOKE_ID_PREFIX = ID_PREFIX + "invoke-"
SECRET_PREFIX = "as-"


def secret_for(admin_token: str, token_id: str) -> str:
    digest = hmac.new(admin_token.encode(), f"modal-token:{token_id}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_id(invoke_only: bool) -> str:
    return (INVOKE_ID_PREFIX if invoke_only else ID_PREFIX) + secrets.token_hex(8)


def new_pair(admin_token: str, invoke_only: bool = False) -> tuple[str, str]:
    token_id = new_id(invoke_only)
    return token_id, secret_for(admin_token, token_id)


def is_invoke_only(token_id: str) -> bool:
    return token_id.startswith(INVOKE_ID_PREFIX)


def valid_pair(admin_token: str, token_id: str, secret: str) -> bool:
    if not token_id.startswith(ID_PREFIX):
        return False
    return hmac.compare_digest(secret.encode(), secret_for(admin_token, token_id).encode())
