"""Queue items in Redis (server --queue): the store's queue contract, retries, deletion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane
from nano_modal.server.object_service import ObjectPlane
from nano_modal.server.sql_store import SqlStore
from tests import redisd

pytestmark = pytest.mark.skipif(not redisd.available(), reason=redisd.SKIP_REASON)
QUEUE = api_pb2.OBJECT_KIND_QUEUE


@pytest.fixture
def redis_server() -> Iterator[redisd.RedisServer]:
    with redisd.redis_server() as server:
        yield server


def test_queue_contract_on_redis(redis_server: redisd.RedisServer) -> None:
    from nano_modal.server.redis_queues import RedisQueues

    async def scenario() -> None:
        s = await RedisQueues.connect(redis_server.url)
        now = time.time()
        await s.queue_put("qu-1", "", [b"a", b"b", b"c"], now + 60)
        await s.queue_put("qu-1", "p:q", [b"x"], now + 60)  # a colon in a partition key
        assert await s.queue_counts("qu-1") == {"": 3, "p:q": 1}
        assert [v for _, v in await s.queue_peek("qu-1", "", 0, 10)] == [b"a", b"b", b"c"]
        assert await s.queue_take("qu-1", "", 2) == [b"a", b"b"]
        [(cursor, value)] = await s.queue_peek("qu-1", "", 0, 10)
        assert value == b"c"
        await s.queue_put("qu-1", "", [b"d", b"e"], now + 60)
        assert [v for _, v in await s.queue_peek("qu-1", "", cursor, 10)] == [b"d", b"e"]  # after the cursor
        assert [v for _, v in await s.queue_peek("qu-1", "", cursor, 1)] == [b"d"]
        assert await s.queue_take("qu-1", "", 10) == [b"c", b"d", b"e"] and await s.queue_take("qu-1", "", 1) == []
        await s.queue_clear("qu-1", "p:q")
        assert await s.queue_counts("qu-1") == {}
        await s.queue_put("qu-1", "e", [b"old"], now - 10)  # its TTL ran out ten seconds ago
        await s.queue_put("qu-1", "f", [b"stale"], now - 10)
        await s.queue_put("qu-1", "f", [b"fresh"], now + 60)  # a later put moves its expiry on
        await s.queue_put("qu-1", "", [b"z"], now + 60)
        assert await s.queue_expired(now) == [("qu-1", "e")]
        assert await s.queue_counts("qu-1") == {"": 1, "f": 2} and await s.queue_expired(now) == []
        await s.queue_put("qu-1", "", [b"y" * 100] * 5000, now + 60)  # a full partition in one put
        assert len(await s.queue_take("qu-1", "", 6000)) == 5001
        await s.queue_clear("qu-1", None)
        assert await s.queue_counts("qu-1") == {}
        await s.queue_put("qu-2", "", [b"1"], now + 60)
        assert await s.queue_ids() == {"qu-1", "qu-2"}
        await s.queue_delete("qu-1")
        assert await s.queue_ids() == {"qu-2"}
        await s.close()

    asyncio.run(scenario())
    keys = {k.decode() for k in redis_server.client().keys("*")}
    assert not [k for k in keys if "qu-1" in k], keys  # deleted with its queue
    assert "nano_modal:q:qu-2:p:" in keys


def test_a_retried_write_is_not_done_twice(redis_server: redisd.RedisServer) -> None:
    """The answer of a put or a take lost in flight: the retry (same token) returns the first result."""
    from nano_modal.server import redis_queues

    async def scenario() -> None:
        s = await redis_queues.RedisQueues.connect(redis_server.url)
        keys = [redis_queues.partition_key("qu-1", ""), redis_queues.seq_key("qu-1"), redis_queues.parts_key("qu-1")]
        put = ["qu-1", "", time.time() + 60, 60_000, b"a", b"b"]
        token = redis_queues.done_key("t1")
        assert await s._put(keys=[*keys, token], args=put) == 1
        assert await s._put(keys=[*keys, token], args=put) == 0  # already done
        take = [redis_queues.partition_key("qu-1", ""), redis_queues.done_key("t2")]
        first = await s._take(keys=take, args=[1, 60_000])
        assert await s._take(keys=take, args=[1, 60_000]) == first  # the same item, not the next one
        assert await s.queue_take("qu-1", "", 5) == [b"b"]
        await s.close()

    asyncio.run(scenario())


def test_server_objects_on_redis_and_a_deleted_queue_leaves_no_keys(
    redis_server: redisd.RedisServer, tmp_path: Path
) -> None:
    from nano_modal.server.redis_queues import RedisQueues

    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")

    async def scenario() -> None:
        objects = ObjectPlane(store, ControlPlane(store), tmp_path, await RedisQueues.connect(redis_server.url))
        row, _ = objects.registry.get_or_create(QUEUE, "q", "", True, False)
        getters = [asyncio.create_task(objects.queues.get(row.object_id, "", 1, 5.0)) for _ in range(3)]
        await asyncio.sleep(0.05)
        await objects.queues.put(row.object_id, "", [b"1", b"2", b"3"], 0)
        assert sorted(v for got in await asyncio.gather(*getters) for v in got) == [b"1", b"2", b"3"]
        await objects.queues.put(row.object_id, "a", [b"x"], 0)
        assert await objects.queues.len(row.object_id, "", total=True) == 1
        assert redis_server.client().keys(f"*{row.object_id}*")
        objects.registry.delete(QUEUE, "q", "", "", allow_missing=False)
        await asyncio.gather(*objects.queues._deleting)
        assert not redis_server.client().keys(f"*{row.object_id}*")

        # A queue deleted while Redis was away: its keys go at the next start.
        gone, _ = objects.registry.get_or_create(QUEUE, "gone", "", True, False)
        await objects.queues.put(gone.object_id, "", [b"1"], 0)
        store.delete_object(gone.object_id)  # as if the deletion of its keys had failed
        assert await objects.queues.delete_leftovers() == 1
        assert not redis_server.client().keys(f"*{gone.object_id}*")

    asyncio.run(scenario())
    store.close()
