"""Queue: FIFO per partition, blocking gets, many producers and consumers, bad input.

Every test runs twice: with Queue items in the state store (the default), and in Redis
(`nano-modal server --queue redis://...`)."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import nano_modal
from nano_modal import config
from nano_modal.exception import InvalidError, NotFoundError, SerializationError
from tests.conftest import using


@pytest.fixture(scope="module", params=["store", "redis"])
def queues_on(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where the server under test keeps Queue items; the SDK here talks to that server."""
    if request.param == "store":
        request.getfixturevalue("cluster")
        yield "store"
        return
    redis_cluster, _ = request.getfixturevalue("redis_cluster")
    with using(redis_cluster):
        yield "redis"


@pytest.fixture(scope="module")
def queue_app(queues_on: str) -> Iterator[Any]:
    """tests/apps/queue_app.py's app, running on the server of `queues_on`."""
    from tests.apps import queue_app as module

    with module.app.run():
        yield module


def fresh() -> nano_modal.Queue:
    return nano_modal.Queue.from_name(f"q-{uuid.uuid4().hex[:10]}", create_if_missing=True)


def test_fifo_and_partitions(queues_on: str) -> None:
    q = fresh()
    q.put(1)
    q.put_many([2, 3, {"four": 4}])
    q.put("a", partition="alpha")
    q.put_many(["b", "c"], partition="alpha")
    assert q.len() == 4 and q.len(partition="alpha") == 3 and q.len(total=True) == 7
    assert q.get() == 1
    assert q.get_many(2) == [2, 3]
    assert q.get_many(10) == [{"four": 4}]  # up to n: what there is
    assert q.get(block=False) is None  # default partition now empty
    assert q.get_many(5, block=False) == []
    assert q.get(partition="alpha") == "a"
    q.clear(partition="alpha")
    assert q.len(total=True) == 0
    q.put_many([1, 2], partition="x")
    q.put(3)
    q.clear(all=True)
    assert q.len(total=True) == 0


def test_partitions_expire_after_their_ttl(queues_on: str) -> None:
    q = fresh()
    q.put("short-lived", partition="tmp", partition_ttl=1)
    q.put("kept", partition="keep")  # the default TTL: a day
    q.put("renewed", partition="renew", partition_ttl=2)
    assert q.len(partition="tmp") == 1
    deadline = time.monotonic() + 30
    while q.len(partition="tmp") and time.monotonic() < deadline:
        q.put("again", partition="renew", partition_ttl=2)  # each put moves the expiry on
        time.sleep(0.2)
    assert q.len(partition="tmp") == 0 and q.get(partition="tmp", block=False) is None
    assert q.len(partition="keep") == 1 and q.len(partition="renew") > 1
    q.put("back", partition="tmp", partition_ttl=1)  # an expired partition can be used again
    assert q.get(partition="tmp", block=False) == "back"
    for bad in (0, -5, 2 * 24 * 3600):
        with pytest.raises(InvalidError, match="partition_ttl"):
            q.put("x", partition_ttl=bad)


def test_iterate_does_not_consume(queues_on: str) -> None:
    q = fresh()
    q.put_many(list(range(250)))
    assert list(q.iterate()) == list(range(250))
    assert q.len() == 250

    def later() -> None:
        time.sleep(0.5)
        q.put("late")

    threading.Thread(target=later).start()
    seen = list(q.iterate(item_poll_timeout=5.0))
    assert seen[-1] == "late" and len(seen) == 251


def test_blocking_get_waits_server_side(queues_on: str) -> None:
    q = fresh()

    def later() -> None:
        time.sleep(0.7)
        q.put("hello")

    threading.Thread(target=later).start()
    started = time.monotonic()
    assert q.get(timeout=10) == "hello"
    assert 0.5 < time.monotonic() - started < 5
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.5)
    with pytest.raises(queue.Empty):
        q.get_many(3, timeout=0.3)
    assert 0.7 < time.monotonic() - started < 5


def test_full_partition(queues_on: str, monkeypatch: pytest.MonkeyPatch) -> None:
    q = fresh()
    q.put_many(list(range(config.QUEUE_MAX_PARTITION_ITEMS)))
    with pytest.raises(queue.Full):
        q.put("one too many", block=False)
    with pytest.raises(queue.Full):
        q.put("one too many", timeout=0.3)
    q.put("elsewhere", partition="other")  # other partitions are not affected

    def drain() -> None:
        time.sleep(0.5)
        q.get()

    threading.Thread(target=drain).start()
    q.put("fits after a get", timeout=10)  # a blocked put wakes when room appears
    assert q.len() == config.QUEUE_MAX_PARTITION_ITEMS


def test_put_many_of_more_than_a_partition_holds(queues_on: str) -> None:
    """The items go in as a consumer makes room, in order (put_many sent them in batches of up to
    8 MiB: one of 15,000 small items, which the server refused as more than a partition holds)."""
    q = fresh()
    n = config.QUEUE_MAX_PARTITION_ITEMS * 3
    got: list[int] = []

    def drain() -> None:
        while len(got) < n:
            got.extend(q.get_many(1000, timeout=60))

    consumer = threading.Thread(target=drain)
    consumer.start()
    q.put_many(list(range(n)), timeout=120)
    consumer.join(120)
    assert got == list(range(n))


def test_put_many_into_a_partition_without_room_raises_full(queues_on: str) -> None:
    q = fresh()
    with pytest.raises(queue.Full, match="is full"):
        q.put_many(list(range(config.QUEUE_MAX_PARTITION_ITEMS + 1)), block=False)
    assert q.len() == config.QUEUE_MAX_PARTITION_ITEMS  # what fitted is in


def test_async_twins(queues_on: str) -> None:
    q = fresh()

    async def main() -> list[Any]:
        await q.put.aio("x")
        await q.put_many.aio(["y", "z"])
        return [await q.get.aio(), await q.get_many.aio(5), await q.len.aio()]

    assert asyncio.run(main()) == ["x", ["y", "z"], 0]


def test_ephemeral_queue(queues_on: str) -> None:
    with nano_modal.Queue.ephemeral() as q:
        q.put(1)
        assert q.get() == 1
        object_id = q.object_id
    with pytest.raises(NotFoundError):
        nano_modal.Queue.from_id(object_id).len()


def test_delete_wakes_blocked_getters(queues_on: str) -> None:
    name = f"doomed-{uuid.uuid4().hex[:8]}"
    q = nano_modal.Queue.from_name(name, create_if_missing=True)
    q.hydrate()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            q.get(timeout=30)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.5)
    nano_modal.Queue.objects.delete(name)
    t.join(10)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], NotFoundError)


# ---------------------------------------------------------------- from inside functions


def test_producers_and_consumers_across_containers(queue_app: Any) -> None:
    """4 producers and 4 consumers in their own containers: every item arrives exactly once."""
    q = fresh()
    producers, consumers, per_producer = 4, 4, 250
    consuming = [queue_app.consume.spawn(q, c) for c in range(consumers)]
    assert sum(queue_app.produce.map([q] * producers, range(producers), [per_producer] * producers)) == 1000
    q.put_many([None] * consumers)  # one stop sentinel per consumer
    got = [tuple(item) for call in consuming for item in call.get(timeout=180)]
    expected = [(p, j) for p in range(producers) for j in range(per_producer)]
    assert len(got) == len(expected)  # nothing delivered twice
    assert sorted(got) == expected  # nothing lost
    assert q.len(total=True) == 0
    per_consumer = [call.get() for call in consuming]
    for items in per_consumer:  # FIFO per producer, as each consumer saw them
        for p in range(producers):
            mine = [j for (pp, j) in items if pp == p]
            assert mine == sorted(mine)


def test_get_timeout_inside_a_container(queue_app: Any) -> None:
    assert queue_app.queue_get_timeout.remote(fresh(), 0.5).startswith("empty after 0.")


# ---------------------------------------------------------------- bad input


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("refuses to be pickled")


def test_bad_items(queues_on: str) -> None:
    q = fresh()
    q.put("keep")
    with pytest.raises(SerializationError, match=r"cannot put .* on Queue .*cannot be pickled"):
        q.put(Unpicklable())
    with pytest.raises(SerializationError):
        q.put_many([1, 2, Unpicklable()])  # checked before anything is sent
    with pytest.raises(InvalidError, match="takes items of at most"):
        q.put(b"x" * (config.QUEUE_MAX_ITEM_BYTES + 1))
    with pytest.raises(InvalidError, match="partition"):
        q.put(1, partition="")
    with pytest.raises(InvalidError, match="partition"):
        q.put(1, partition="p" * 100)
    with pytest.raises(InvalidError, match="n_values"):
        q.get_many(0)
    assert q.len() == 1 and q.get() == "keep"


def test_missing_and_invalid_names(queues_on: str) -> None:
    with pytest.raises(InvalidError):
        nano_modal.Queue.from_name("no spaces please")
    with pytest.raises(NotFoundError, match="not found"):
        nano_modal.Queue.from_name(f"missing-{uuid.uuid4().hex[:8]}").put(1)
