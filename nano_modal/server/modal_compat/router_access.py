"""The access Modal's client needs to a container's "task command router": a URL and a JWT.

Modal 1.6's client runs a sandbox's commands, reads its output and writes its stdin through
a second gRPC service, `modal.task_command_router.TaskCommandRouter`, on a worker; it has no
fallback to the ModalClient methods. nano-modal serves that service on the server's own gRPC
port (command_router.py), so the URL is the server's address. The JWT (HS256, signed with
the admin token, as the Modal token pairs are) names the one container it is good for and
expires; the client fetches a new one when told UNAUTHENTICATED.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

ROUTER_SERVICE = "modal.task_command_router.TaskCommandRouter"
ROUTER_PREFIX = f"/{ROUTER_SERVICE}/"
JWT_LIFETIME = 3600.0  # seconds; the client refreshes a JWT that is refused as expired
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(admin_token: str, signed: str) -> str:
    return _b64(hmac.new(admin_token.encode(), signed.encode(), hashlib.sha256).digest())


def make_jwt(admin_token: str, task_id: str, now: float | None = None) -> str:
    issued = time.time() if now is None else now
    payload = {"task_id": task_id, "exp": int(issued + JWT_LIFETIME)}
    signed = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(payload).encode())}"
    return f"{signed}.{_signature(admin_token, signed)}"


def task_of(admin_token: str, authorization: str) -> str | None:
    """The container a `Bearer <jwt>` header grants, or None (not ours, tampered, expired)."""
    token = authorization.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3 or not admin_token:
        return None
    signed = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], _signature(admin_token, signed)):
        return None
    try:
        payload = json.loads(_unb64(parts[1]))
    except ValueError:
        return None
    if not isinstance(payload, dict) or float(payload.get("exp", 0)) < time.time():
        return None
    task_id = payload.get("task_id")
    return task_id if isinstance(task_id, str) and task_id else None


def client_auth_token(now: float | None = None) -> str:
    """AuthTokenGet's answer: Modal's client sends it along with V2 sandbox calls and reads only
    its expiry. nano-modal ignores it (the token pair is what authenticates), so it grants
    nothing: unsigned, and no `task_id` for the router to accept."""
    issued = time.time() if now is None else now
    payload = {"exp": int(issued + JWT_LIFETIME), "sub": "nano-modal"}
    return f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(payload).encode())}.unsigned"
