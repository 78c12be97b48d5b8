"""Queue items in Redis (server --queue): a Redis restart under load loses and duplicates nothing
acknowledged; deleting a Queue deletes its keys. The rest of the Queue suite runs on Redis too
(tests/test_queue.py)."""

from __future__ import annotations

import contextlib
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import nano_modal
from tests import redisd
from tests.conftest import Cluster, start_server, stop, using

pytestmark = pytest.mark.skipif(not redisd.available(), reason=redisd.SKIP_REASON)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[Cluster, redisd.RedisServer]]:
    """A server on its own redis-server, which the test may kill (no worker: the SDK here is the user)."""
    with redisd.redis_server() as redis:
        token = secrets.token_urlsafe(16)
        server, url = start_server(tmp_path, token, "--queue", redis.url)
        try:
            with using(Cluster(url, token, tmp_path, server, [])) as cluster:
                yield cluster, redis
        finally:
            stop(server)


def test_redis_restarts_under_load_lose_and_duplicate_nothing(
    own_redis: tuple[Cluster, redisd.RedisServer],
) -> None:
    cluster, redis = own_redis
    q = nano_modal.Queue.from_name(f"restart-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    acknowledged: list[int] = []
    received: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def produce() -> None:
        try:
            for i in range(600):
                q.put(i) if i % 3 else q.put_many([i])
                acknowledged.append(i)  # put returned: the server has it
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def consume() -> None:
        try:
            deadline = time.monotonic() + 120
            while not (done.is_set() and len(received) >= len(acknowledged)) and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):  # a get can outlast its timeout while Redis restarts
                    received.extend(q.get_many(7, timeout=1.0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    restarts = 0
    while not done.is_set() and restarts < 3:
        time.sleep(0.4)
        redis.kill()  # SIGKILL mid-operation, then the same data directory again
        time.sleep(0.3)
        redis.start()
        restarts += 1
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert restarts >= 2, "the puts finished before Redis was restarted twice: make the test longer"
    assert len(received) == len(set(received)), "an item was delivered twice"
    assert sorted(received) == acknowledged == list(range(600)), "an acknowledged item was lost"
    assert received == sorted(received)  # FIFO survived too
    assert q.len() == 0
    assert cluster.server.poll() is None  # the server rode it out


def test_a_redis_outage_past_the_bound_fails_clearly(tmp_path: Path) -> None:
    """Redis gone for longer than the retry bound: the call fails saying so; the server keeps serving."""
    import os

    with redisd.redis_server() as redis:
        token = secrets.token_urlsafe(16)
        os.environ["NANO_MODAL_QUEUE_RETRY_TIMEOUT"] = "1"
        try:
            server, url = start_server(tmp_path, token, "--queue", redis.url)
        finally:
            del os.environ["NANO_MODAL_QUEUE_RETRY_TIMEOUT"]
        try:
            with using(Cluster(url, token, tmp_path, server, [])):
                q = nano_modal.Queue.from_name("outage", create_if_missing=True)
                q.put("before")
                redis.kill()
                with pytest.raises(nano_modal.exception.Error, match="Queue storage unavailable: Redis at"):
                    q.put("during")
                redis.start()
                q.put("after")
                assert q.get_many(5, block=False)[0] == "before"  # nothing acknowledged is lost
                assert nano_modal.Dict.from_name("still-serving", create_if_missing=True).len() == 0
        finally:
            stop(server)


def test_deleting_a_queue_deletes_its_redis_keys(own_redis: tuple[Cluster, redisd.RedisServer]) -> None:
    _, redis = own_redis
    name = f"doomed-{uuid.uuid4().hex[:8]}"
    q = nano_modal.Queue.from_name(name, create_if_missing=True)
    kept = nano_modal.Queue.from_name(f"kept-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    q.put_many([1, 2, 3])
    q.put("x", partition="other", partition_ttl=600)
    kept.put("stays")
    assert redis.client().keys(f"*{q.object_id}*")
    nano_modal.Queue.objects.delete(name)
    deadline = time.monotonic() + 10
    while redis.client().keys(f"*{q.object_id}*") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis.client().keys(f"*{q.object_id}*")
    assert q.object_id.encode() not in redis.client().smembers("nano_modal:q:queues")
    assert not [m for m in redis.client().zrange("nano_modal:q:expiry", 0, -1) if q.object_id.encode() in m]
    assert kept.get() == "stays"
