"""App tags (App(tags=), set_tags, get_tags) and Volume.rename, against a real server."""

from __future__ import annotations

import asyncio
import io
import uuid

import grpc
import pytest

import nano_modal
from nano_modal._utils.aio import run_blocking
from nano_modal.client import Client
from nano_modal.exception import AlreadyExistsError, ExecutionError, InvalidError, NotFoundError
from nano_modal.proto import api_pb2
from tests.conftest import Cluster


def test_a_running_app_has_its_tags_and_set_tags_replaces_them(cluster: Cluster) -> None:
    app = nano_modal.App("tagged", tags={"team": "ml", "cost-center": "42"})
    with pytest.raises(ExecutionError, match="not running"):
        app.get_tags()
    with app.run():
        assert app.get_tags() == {"team": "ml", "cost-center": "42"}
        app.set_tags({"stage": "prod"})  # the complete set: "team" and "cost-center" go
        assert app.get_tags() == {"stage": "prod"}
        assert asyncio.run(app.get_tags.aio()) == {"stage": "prod"}


def test_a_deployed_app_keeps_its_tags_across_deploys_and_rollbacks(cluster: Cluster) -> None:
    name = f"tags-{uuid.uuid4().hex[:8]}"
    nano_modal.App(name, tags={"owner": "a"}).deploy()
    assert nano_modal.App.lookup(name).get_tags() == {"owner": "a"}
    nano_modal.App(name).deploy()  # no tags given: the app keeps its own
    assert nano_modal.App.lookup(name).get_tags() == {"owner": "a"}
    nano_modal.App(name, tags={"owner": "b"}).deploy()  # given: they replace them
    looked_up = nano_modal.App.lookup(name)
    assert looked_up.get_tags() == {"owner": "b"}
    looked_up.set_tags({})
    assert looked_up.get_tags() == {}
    nano_modal.App(name).deploy()
    run_blocking(_rollback(name, version=1))  # v1 was deployed with owner=a: a rollback keeps today's tags
    assert nano_modal.App.lookup(name).get_tags() == {}


async def _rollback(name: str, version: int) -> None:
    client = await Client.get()
    await client.stub.AppRollback(api_pb2.AppRollbackRequest(name=name, version=version))


def test_bad_tags_are_refused_by_the_client_and_by_the_server(cluster: Cluster) -> None:
    with pytest.raises(InvalidError, match=r"invalid tag key 'has space'"):
        nano_modal.App("x", tags={"has space": "v"})
    with pytest.raises(InvalidError, match=r"invalid tag value"):
        nano_modal.App("x", tags={"k": "v" * 64})
    app = nano_modal.App("tag-checks")
    with app.run():
        with pytest.raises(InvalidError, match="at most 64 tags"):
            app.set_tags({f"k{i}": "v" for i in range(65)})

        async def raw() -> grpc.StatusCode:  # a caller that skips the client's check
            client = await Client.get()
            try:
                await client.stub.AppSetTags(api_pb2.AppSetTagsRequest(app_id=app.app_id, tags={"a/b": "v"}))
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            except InvalidError:
                return grpc.StatusCode.INVALID_ARGUMENT
            return grpc.StatusCode.OK

        assert run_blocking(raw()) == grpc.StatusCode.INVALID_ARGUMENT
        assert app.get_tags() == {}


def test_include_inherits_tags_unless_told_not_to() -> None:
    base = nano_modal.App("base", tags={"team": "ml", "stage": "dev"})
    assert nano_modal.App("main", tags={"stage": "prod"}).include(base).tags == {"team": "ml", "stage": "prod"}
    assert nano_modal.App("main", tags={"stage": "prod"}).include(base, inherit_tags=False).tags == {"stage": "prod"}


def test_volume_rename_keeps_the_volume_and_its_files(cluster: Cluster) -> None:
    old, new = f"vol-{uuid.uuid4().hex[:8]}", f"vol-{uuid.uuid4().hex[:8]}"
    vol = nano_modal.Volume.from_name(old, create_if_missing=True)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"kept"), "a.txt")
    nano_modal.Volume.rename(old, new)
    assert b"".join(nano_modal.Volume.from_name(new).read_file("a.txt")) == b"kept"
    assert b"".join(vol.read_file("a.txt")) == b"kept"  # a handle looked up before: the same volume
    with pytest.raises(NotFoundError):
        nano_modal.Volume.from_name(old).listdir("/")
    names = [v.name for v in nano_modal.Volume.objects.list()]
    assert new in names and old not in names
    other = f"vol-{uuid.uuid4().hex[:8]}"
    nano_modal.Volume.from_name(other, create_if_missing=True).listdir("/")
    with pytest.raises(AlreadyExistsError, match=f"volume '{other}' already exists"):
        nano_modal.Volume.rename(new, other)
    with pytest.raises(NotFoundError, match=f"volume '{old}'"):
        nano_modal.Volume.rename(old, f"vol-{uuid.uuid4().hex[:8]}")
    with pytest.raises(InvalidError):
        nano_modal.Volume.rename(new, "bad name")
    asyncio.run(nano_modal.Volume.rename.aio(new, old))  # and back
    assert b"".join(nano_modal.Volume.from_name(old).read_file("a.txt")) == b"kept"
