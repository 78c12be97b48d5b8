"""The command router's JWTs (modal_compat/router_access.py): one container each, signed with the
admin token, expiring; AuthTokenGet's token grants nothing."""

from __future__ import annotations

import time

from nano_modal.server.modal_compat.router_access import JWT_LIFETIME, client_auth_token, make_jwt, task_of

ADMIN = "admin-token-of-this-server"


def test_a_jwt_names_its_container() -> None:
    assert task_of(ADMIN, f"Bearer {make_jwt(ADMIN, 'sb-1')}") == "sb-1"


def test_a_jwt_of_another_server_or_tampered_is_refused() -> None:
    assert task_of(ADMIN, f"Bearer {make_jwt('another-admin-token', 'sb-1')}") is None
    header, payload, signature = make_jwt(ADMIN, "sb-1").split(".")
    other_payload = make_jwt(ADMIN, "sb-2").split(".")[1]
    assert task_of(ADMIN, f"Bearer {header}.{other_payload}.{signature}") is None
    assert task_of(ADMIN, f"Bearer {header}.{payload}.") is None
    assert task_of("", f"Bearer {make_jwt('', 'sb-1')}") is None  # no admin token: nothing is valid


def test_an_expired_jwt_is_refused() -> None:
    issued = time.time() - JWT_LIFETIME - 1
    assert task_of(ADMIN, f"Bearer {make_jwt(ADMIN, 'sb-1', now=issued)}") is None


def test_the_client_auth_token_grants_no_container() -> None:
    assert task_of(ADMIN, f"Bearer {client_auth_token()}") is None
