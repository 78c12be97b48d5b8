"""modal.Client over nano-modal's client: from_env, from_credentials, verify, hello, close, and
the `.client` and `from_id(x_id)` of object handles."""

from __future__ import annotations

import uuid

import pytest

import nano_modal
from nano_modal.exception import AuthError, ConnectionError


def test_from_env_is_the_process_client(cluster: object) -> None:
    client = nano_modal.Client.from_env()
    assert client is nano_modal.Client.from_env()
    assert client.server_url == cluster.server_url  # type: ignore[attr-defined]
    assert client.client_type == "admin" and not client.is_closed()
    client.hello()


def test_from_credentials_checks_the_token(cluster: object) -> None:
    client = nano_modal.Client.from_credentials("ci", cluster.token)  # type: ignore[attr-defined]
    assert client is not nano_modal.Client.from_env()
    client.hello()
    client.close()
    assert client.is_closed()
    with pytest.raises(nano_modal.exception.ClientClosed):
        client.hello()
    with pytest.raises(AuthError):
        nano_modal.Client.from_credentials("ci", "not-the-token")


def test_verify(cluster: object) -> None:
    url, token = cluster.server_url, cluster.token  # type: ignore[attr-defined]
    nano_modal.Client.verify(url, ("ci", token))
    with pytest.raises(AuthError):
        nano_modal.Client.verify(url, ("ci", "wrong"))
    with pytest.raises(ConnectionError):
        nano_modal.Client.verify("127.0.0.1:1", ("ci", token))


def test_handles_name_their_client_once_hydrated(cluster: object) -> None:
    d = nano_modal.Dict.from_name(f"c-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    with pytest.raises(AttributeError, match="not hydrated"):
        d.client  # noqa: B018
    d["k"] = 1
    assert d.client is nano_modal.Client.from_env()
    assert nano_modal.Dict.from_id(dict_id=d.object_id)["k"] == 1


def test_from_id_takes_modal_parameter_names(cluster: object) -> None:
    with nano_modal.Queue.ephemeral() as q:
        q.put(1)
        assert nano_modal.Queue.from_id(queue_id=q.object_id).len() == 1
    v = nano_modal.Volume.from_name(f"v-{uuid.uuid4().hex[:8]}", create_if_missing=True).hydrate()
    assert nano_modal.Volume.from_id(volume_id=v.object_id).listdir("/") == []
