"""A function's container reads no secret through a sandbox it starts (Sandbox.create(secrets=)
or exec(secrets=)) unless its own function was given that secret: a secret's id is any
container's to look up by name, its values are not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nano_modal
from tests.apps import server_secrets_app as secrets_app
from tests.conftest import Cluster

HELD_VALUE = "held-value-1f3a"
OTHER_VALUE = "other-value-9c2e"


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[None]:
    nano_modal.Secret.objects.create(secrets_app.SECRET_NAME, {"HELD": HELD_VALUE}, allow_existing=True)
    nano_modal.Secret.objects.create(secrets_app.OTHER_NAME, {"HELD": OTHER_VALUE}, allow_existing=True)
    with secrets_app.app.run():
        yield


@pytest.mark.parametrize("how", ["create", "exec"])
def test_a_container_cannot_hand_a_sandbox_a_secret_it_lacks(running: None, how: str) -> None:
    for caller, secret in (
        (secrets_app.without_secrets, secrets_app.SECRET_NAME),
        (secrets_app.with_the_secret, secrets_app.OTHER_NAME),
    ):
        seen = caller.remote(how, secret)
        assert HELD_VALUE not in seen and OTHER_VALUE not in seen, seen
        assert "may pass to a sandbox or exec only the secrets it was given itself" in seen, seen


@pytest.mark.parametrize("how", ["create", "exec"])
def test_a_container_may_pass_on_its_own_secrets(running: None, how: str) -> None:
    assert secrets_app.with_the_secret.remote(how, secrets_app.SECRET_NAME) == f"[{HELD_VALUE}]"
