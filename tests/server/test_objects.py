"""The object plane without any network: registry lifetimes, the store, encryption, volume manifests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from nano_modal import config
from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane, Invalid, NotFound
from nano_modal.server.object_service import ObjectPlane
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.store import ObjectRow, VolumeFileRow
from nano_modal.server.volumes import normalize

DICT, QUEUE, SECRET, VOLUME = (
    api_pb2.OBJECT_KIND_DICT,
    api_pb2.OBJECT_KIND_QUEUE,
    api_pb2.OBJECT_KIND_SECRET,
    api_pb2.OBJECT_KIND_VOLUME,
)


def plane(state_dir: Path) -> ObjectPlane:
    store = SqlStore(f"sqlite:///{state_dir / 'state.db'}")
    return ObjectPlane(store, ControlPlane(store), state_dir)


def test_ephemeral_objects_are_reaped_without_heartbeats(tmp_path: Path) -> None:
    objects = plane(tmp_path)
    row, _ = objects.registry.get_or_create(DICT, "", "", False, ephemeral=True)
    objects.dicts.update(row.object_id, [(b"k", b"v")], False)
    assert objects.registry.reap_ephemeral() == 0  # fresh
    objects.registry.heartbeats[row.object_id] = time.monotonic() - config.EPHEMERAL_OBJECT_TIMEOUT - 1
    assert objects.registry.reap_ephemeral() == 1
    with pytest.raises(NotFound):
        objects.dicts.get(row.object_id, b"k")
    assert objects.registry.store.dict_page(row.object_id, 0, 10) == []  # its entries went with it


def test_ephemeral_objects_get_a_grace_period_after_a_restart(tmp_path: Path) -> None:
    first = plane(tmp_path)
    row, _ = first.registry.get_or_create(QUEUE, "", "", False, ephemeral=True)
    second = plane(tmp_path)  # the same state directory: a restarted server
    assert row.object_id in second.registry.heartbeats
    assert second.registry.reap_ephemeral() == 0


def test_names_are_unique_per_kind_and_environment(tmp_path: Path) -> None:
    objects = plane(tmp_path)
    a, created = objects.registry.get_or_create(DICT, "same", "", True, False)
    b, again = objects.registry.get_or_create(DICT, "same", "main", True, False)
    c, _ = objects.registry.get_or_create(QUEUE, "same", "", True, False)
    d, _ = objects.registry.get_or_create(DICT, "same", "dev", True, False)
    assert created and not again and a.object_id == b.object_id
    assert len({a.object_id, c.object_id, d.object_id}) == 3
    for bad in ("", "a b", "x" * 65):
        with pytest.raises(Invalid):
            objects.registry.get_or_create(DICT, bad, "", True, False)


def test_secrets_are_sealed_with_the_server_key(tmp_path: Path) -> None:
    objects = plane(tmp_path)
    secret_id = objects.secrets.create("db", "", {"PASSWORD": "hunter2"}, overwrite=False)
    assert b"hunter2" not in (tmp_path / "state.db").read_bytes()
    assert objects.secrets.env_for([secret_id]) == {"PASSWORD": "hunter2"}
    assert plane(tmp_path).secrets.env_for([secret_id]) == {"PASSWORD": "hunter2"}  # the key file is reused
    (tmp_path / "secret_key").write_bytes(Fernet.generate_key())  # a different key: refuse, never guess
    with pytest.raises(Invalid, match="cannot be decrypted"):
        plane(tmp_path).secrets.env_for([secret_id])


def test_container_env_carries_secrets_and_mounts(tmp_path: Path) -> None:
    from nano_modal.server.state import FunctionRuntime

    objects = plane(tmp_path)
    secret_id = objects.secrets.create("", "", {"TOKEN": "t"}, overwrite=False)
    volume, _ = objects.registry.get_or_create(VOLUME, "vol", "", True, False)
    definition = api_pb2.FunctionDefinition(name="f", secret_ids=[secret_id, "st-missing"])
    definition.volume_mounts.add(mount_path="/data", volume_id=volume.object_id, read_only=True)
    env = objects.container_env(FunctionRuntime("fu-1", "ap-1", "f", definition))
    assert env["TOKEN"] == "t"  # the missing secret is skipped (and logged), not fatal
    assert json.loads(env[config.ENV_VOLUMES]) == [{"path": "/data", "volume_id": volume.object_id, "read_only": True}]


def test_volume_commits_apply_file_by_file(tmp_path: Path) -> None:
    objects = plane(tmp_path)
    row, _ = objects.registry.get_or_create(VOLUME, "v", "", True, False)
    blobs = objects.volumes.blobs
    ids = []
    for content in (b"one", b"two"):
        writer = blobs.writer()
        writer.write(content)
        blob_id = hashlib.sha256(content).hexdigest()
        writer.finish(blob_id)
        ids.append(blob_id)
    v1, missing = objects.volumes.commit(row.object_id, [VolumeFileRow("a/x", ids[0], 3, 0o644, 1.0)], [], True)
    assert not missing
    v2, _ = objects.volumes.commit(row.object_id, [VolumeFileRow("b", ids[1], 3, 0o644, 2.0)], [], True)
    assert v2 == v1 + 1
    _, files = objects.volumes.manifest(row.object_id)
    assert [f.path for f in files] == ["a/x", "b"]  # the second commit did not drop the first one's file
    version, missing = objects.volumes.commit(row.object_id, [VolumeFileRow("c", "0" * 64, 1, 0, 0)], [], True)
    assert missing == ["0" * 64] and version == 0  # nothing applied until the content is there
    objects.volumes.remove(row.object_id, "a", recursive=True)
    assert not blobs.has(ids[0]) and blobs.has(ids[1])  # unreferenced contents are collected
    assert normalize("/x/./y//z") == "x/y/z"
    with pytest.raises(Invalid):
        normalize("../escape")


def test_queue_getters_are_woken_one_per_item(tmp_path: Path) -> None:
    objects = plane(tmp_path)
    row, _ = objects.registry.get_or_create(QUEUE, "q", "", True, False)

    async def scenario() -> list[list[bytes]]:
        getters = [asyncio.create_task(objects.queues.get(row.object_id, "", 1, 5.0)) for _ in range(3)]
        await asyncio.sleep(0.05)
        await objects.queues.put(row.object_id, "", [b"1", b"2", b"3"], 0)
        return await asyncio.gather(*getters)

    results = asyncio.run(scenario())
    assert sorted(v for got in results for v in got) == [b"1", b"2", b"3"]
    assert asyncio.run(objects.queues.len(row.object_id, "", total=True)) == 0


def test_object_store_contract(any_store: SqlStore) -> None:
    s = any_store
    now = time.time()
    s.create_object(ObjectRow("di-1", DICT, "d", "main", False, now, now))
    s.create_object(ObjectRow("qu-1", QUEUE, None, "main", True, now, now))
    s.create_object(ObjectRow("qu-2", QUEUE, None, "main", True, now, now))  # NULL names never collide
    s.create_object(ObjectRow("vo-1", VOLUME, "v", "main", False, now, now))
    s.create_object(ObjectRow("st-1", SECRET, "s", "dev", False, now, now))
    assert s.find_object(DICT, "main", "d", "main").object_id == "di-1"  # type: ignore[union-attr]
    assert s.find_object(DICT, "dev", "d", "main") is None
    assert [r.name for r in s.list_objects(SECRET, None, "main")] == ["s"]
    assert s.list_objects(QUEUE, "main", "main") == []  # ephemeral ones are not listed
    assert {r.object_id for r in s.ephemeral_objects()} == {"qu-1", "qu-2"}

    assert s.dict_put("di-1", [("h1", b"k1", b"v1"), ("h2", b"k2", b"v2")], False)
    assert not s.dict_put("di-1", [("h1", b"k1", b"other")], True)  # exists: skipped
    assert not s.dict_put("di-1", [("h1", b"k1", b"v1b")], False)  # overwritten in place: nothing new
    assert s.dict_get("di-1", "h1") == b"v1b" and s.dict_len("di-1") == 2
    assert [(k, v) for _, k, v in s.dict_page("di-1", 0, 10)] == [(b"k1", b"v1b"), (b"k2", b"v2")]
    assert s.dict_pop("di-1", "h2") == b"v2" and s.dict_pop("di-1", "h2") is None
    s.dict_clear("di-1")
    assert s.dict_len("di-1") == 0

    s.queue_put("qu-1", "", [b"a", b"b", b"c"], time.time() + 60)
    s.queue_put("qu-1", "p", [b"x"], time.time() + 60)
    assert s.queue_counts("qu-1") == {"": 3, "p": 1}
    assert [v for _, v in s.queue_peek("qu-1", "", 0, 10)] == [b"a", b"b", b"c"]
    assert s.queue_take("qu-1", "", 2) == [b"a", b"b"]
    s.queue_clear("qu-1", "p")
    assert s.queue_counts("qu-1") == {"": 1}
    s.queue_put("qu-1", "e", [b"old"], now - 10)  # its TTL ran out ten seconds ago
    s.queue_put("qu-1", "f", [b"stale"], now - 10)
    s.queue_put("qu-1", "f", [b"fresh"], now + 60)  # a later put moves its expiry on
    assert s.queue_expired(now) == [("qu-1", "e")]
    assert s.queue_counts("qu-1") == {"": 1, "f": 2} and s.queue_expired(now) == []

    s.secret_set("st-1", b"sealed", now)
    s.secret_set("st-1", b"sealed-2", now)
    assert s.secret_get("st-1") == b"sealed-2"

    v1, released = s.volume_apply("vo-1", [VolumeFileRow("a", "b" * 64, 1, 0o644, 1.0)], [])
    v2, released = s.volume_apply("vo-1", [VolumeFileRow("a", "c" * 64, 1, 0o644, 2.0)], [])
    assert (v1, v2, released) == (1, 2, ["b" * 64])
    assert s.volume_manifest("vo-1")[1][0].blob_id == "c" * 64
    assert s.referenced_blobs(["b" * 64, "c" * 64]) == {"c" * 64}
    assert s.delete_object("vo-1") == ["c" * 64]
    assert s.volume_manifest("vo-1") == (0, []) and s.get_object("vo-1") is None
