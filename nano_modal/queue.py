"""`Queue`: a persistent, distributed FIFO queue shared by clients and containers.

```python
q = nano_modal.Queue.from_name("jobs", create_if_missing=True)
q.put({"task": 1})
q.put_many([2, 3], partition="low")
item = q.get(timeout=10)            # queue.Empty after 10 s with nothing
```

Items are pickled. Each partition (the default one, or one named with `partition=`) is
FIFO and holds at most 5,000 items; every item is delivered to exactly one `get`, however
many producers and consumers there are.
"""

from __future__ import annotations

import asyncio
import queue as stdlib_queue
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from . import config
from ._object import EphemeralContext, ObjectManager, _Object, check_object_name
from ._utils.aio import NOT_NOW, twin
from .exception import InvalidError, SerializationError
from .proto import api_pb2
from .serialization import _short_repr, deserialize, serialize

_PUT_BATCH_BYTES = 8 * 1024 * 1024  # bytes of items per QueuePut request (gRPC messages stay small)
# Items per QueuePut request: a fifth of a partition, so that a put_many larger than a partition
# goes in as consumers make room (one request of more than a partition holds can never fit).
_PUT_BATCH_ITEMS = config.QUEUE_MAX_PARTITION_ITEMS // 5


class Queue(_Object):
    _kind: ClassVar[api_pb2.ObjectKind] = api_pb2.OBJECT_KIND_QUEUE
    _type_name: ClassVar[str] = "Queue"
    objects: ClassVar[ObjectManager[Queue]]

    @classmethod
    def from_id(cls, queue_id: str) -> Queue:
        """A handle on a Queue by its id (`x.object_id`, from another process, say); checked on first use."""
        return cls(None, None, False, queue_id)

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None, create_if_missing: bool = False) -> Queue:
        """A handle on the named Queue; NotFoundError on first use if it does not exist (and may not be created)."""
        check_object_name(name, "Queue")
        return Queue(name, environment_name, create_if_missing)

    @staticmethod
    def ephemeral(*, environment_name: str | None = None) -> EphemeralContext[Queue]:
        """`with Queue.ephemeral() as q:` a Queue that exists for the duration of the block."""
        return EphemeralContext(Queue(None, environment_name))

    @staticmethod
    def delete(name: str, *, environment_name: str | None = None, allow_missing: bool = False) -> None:
        """Delete a named Queue (same as `Queue.objects.delete`)."""
        Queue.objects.delete(name, environment_name=environment_name, allow_missing=allow_missing)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def validate_partition_key(partition: str | None) -> bytes:
        """The partition key as sent (b"" for the default partition); InvalidError if it is not one."""
        if partition is None:
            return b""
        if not isinstance(partition, str) or not partition:
            raise InvalidError(f"a partition key must be a non-empty string, got {partition!r}")
        if len(partition.encode()) > config.QUEUE_MAX_PARTITION_KEY:
            raise InvalidError(f"partition key {partition!r} is longer than {config.QUEUE_MAX_PARTITION_KEY} bytes")
        return partition.encode()

    def _partition(self, partition: str | None) -> str:
        try:
            return Queue.validate_partition_key(partition).decode()
        except InvalidError as exc:
            raise InvalidError(f"{self._label()}: {exc}") from None

    def _item(self, value: Any) -> bytes:
        try:
            data = serialize(value)
        except Exception as exc:
            raise SerializationError(
                f"cannot put {_short_repr(value)} on {self._label()}: it cannot be pickled "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if len(data) > config.QUEUE_MAX_ITEM_BYTES:
            raise InvalidError(
                f"item {_short_repr(value, 40)} is {len(data):,} bytes pickled; "
                f"{self._label()} takes items of at most {config.QUEUE_MAX_ITEM_BYTES:,}"
            )
        return data

    def _decode(self, data: bytes) -> Any:
        return deserialize(data, f"an item of {self._label()}")

    # ------------------------------------------------------------------ put

    @twin
    async def put(
        self,
        v: Any,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = 24 * 3600,
    ) -> None:
        """Add an item. When the partition is full, wait (up to timeout) for room; queue.Full after that."""
        await self.put_many.aio([v], block, timeout, partition=partition, partition_ttl=partition_ttl)

    @put.fast
    def _put_fast(
        self,
        v: Any,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = 24 * 3600,
    ) -> Any:
        """One item on the caller's thread (see twin.fast); a full partition takes the usual way."""
        key = self._partition(partition)
        _check_ttl(partition_ttl)
        item = self._item(v)
        response = self._call_now(
            "QueuePut",
            lambda queue_id: api_pb2.QueuePutRequest(
                queue_id=queue_id, partition=key, values=[item], timeout=0, partition_ttl=partition_ttl
            ),
        )
        return NOT_NOW if response is NOT_NOW or response.full else None

    @twin
    async def put_many(
        self,
        vs: list[Any],
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = 24 * 3600,
    ) -> None:
        """Add several items, in order. Every item is pickled (and checked) before any is sent.
        The partition (and everything in it) is cleared `partition_ttl` seconds after its last put."""
        key = self._partition(partition)
        _check_ttl(partition_ttl)
        items = [self._item(v) for v in vs]
        if not items:
            return
        client, queue_id = await self._resolve()
        batch: list[bytes] = []
        size = 0
        for i, item in enumerate(items):
            batch.append(item)
            size += len(item)
            if i == len(items) - 1 or size >= _PUT_BATCH_BYTES or len(batch) >= _PUT_BATCH_ITEMS:
                await self._put_batch(client, queue_id, key, batch, block, timeout, partition_ttl)
                batch, size = [], 0

    async def _put_batch(
        self,
        client: Any,
        queue_id: str,
        partition: str,
        batch: list[bytes],
        block: bool,
        timeout: float | None,
        ttl: float,
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _poll_wait(block, deadline)
            request = api_pb2.QueuePutRequest(
                queue_id=queue_id, partition=partition, values=batch, timeout=wait, partition_ttl=ttl
            )
            response = await client.stub.QueuePut(request, timeout=wait + config.CONNECT_TIMEOUT * 2)
            if not response.full:
                return
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise stdlib_queue.Full(
                    f"{self._label()}: partition {partition or '(default)'} is full "
                    f"({config.QUEUE_MAX_PARTITION_ITEMS:,} items)"
                )

    # ------------------------------------------------------------------ get

    async def _get(self, n_values: int, block: bool, timeout: float | None, partition: str | None) -> list[Any]:
        key = self._partition(partition)
        if n_values < 1:
            raise InvalidError(f"n_values must be at least 1, got {n_values}")
        client, queue_id = await self._resolve()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _poll_wait(block, deadline)
            request = api_pb2.QueueGetRequest(queue_id=queue_id, partition=key, n_values=n_values, timeout=wait)
            response = await client.stub.QueueGet(request, timeout=wait + config.CONNECT_TIMEOUT * 2)
            if response.values:
                return [self._decode(v) for v in response.values]
            if not block:
                return []
            if deadline is not None and time.monotonic() >= deadline:
                raise stdlib_queue.Empty(f"{self._label()}: no item within {timeout:g}s")

    @twin
    async def get(self, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> Any:
        """Remove and return the next item. Blocking: wait (up to timeout; then queue.Empty).
        Not blocking: None when the partition is empty."""
        values = await self._get(1, block, timeout, partition)
        return values[0] if values else None

    @get.fast
    def _get_fast(self, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> Any:
        """An item already there, on the caller's thread (see twin.fast); waiting takes the usual way."""
        key = self._partition(partition)
        response = self._call_now(
            "QueueGet",
            lambda queue_id: api_pb2.QueueGetRequest(queue_id=queue_id, partition=key, n_values=1, timeout=0),
        )
        if response is NOT_NOW:
            return NOT_NOW
        if response.values:
            return self._decode(response.values[0])
        return NOT_NOW if block else None

    @twin
    async def get_many(
        self, n_values: int, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> list[Any]:
        """Remove and return up to n_values items (at least one when blocking; queue.Empty after timeout)."""
        return await self._get(n_values, block, timeout, partition)

    # ------------------------------------------------------------------ inspect

    @twin
    async def len(self, *, partition: str | None = None, total: bool = False) -> int:
        """Items in a partition, or in every partition with total=True."""
        if partition is not None and total:
            raise InvalidError("pass either partition= or total=True, not both")
        key = self._partition(partition)
        client, queue_id = await self._resolve()
        request = api_pb2.QueueLenRequest(queue_id=queue_id, partition=key, total=total)
        return int((await client.stub.QueueLen(request)).len)

    @twin
    async def clear(self, *, partition: str | None = None, all: bool = False) -> None:
        """Remove every item of a partition, or of every partition with all=True."""
        if partition is not None and all:
            raise InvalidError("pass either partition= or all=True, not both")
        key = self._partition(partition)
        client, queue_id = await self._resolve()
        await client.stub.QueueClear(api_pb2.QueueClearRequest(queue_id=queue_id, partition=key, all=all))

    @twin
    async def iterate(self, *, partition: str | None = None, item_poll_timeout: float = 0.0) -> AsyncIterator[Any]:
        """Yield the items of a partition without removing them, in order; after the last one, wait up to
        item_poll_timeout seconds for another before stopping."""
        key = self._partition(partition)
        client, queue_id = await self._resolve()
        after = 0
        while True:
            request = api_pb2.QueueNextItemsRequest(
                queue_id=queue_id, partition=key, after_item_id=after, max_items=100, timeout=item_poll_timeout
            )
            response = await client.stub.QueueNextItems(request, timeout=item_poll_timeout + config.CONNECT_TIMEOUT * 2)
            if not response.items:
                return
            for item in response.items:
                after = item.item_id
                yield self._decode(item.value)
            await asyncio.sleep(0)


Queue.objects = ObjectManager(Queue)


def _check_ttl(partition_ttl: float) -> None:
    if not 0 < partition_ttl <= config.QUEUE_PARTITION_TTL:
        raise InvalidError(
            f"partition_ttl must be between 1 and {config.QUEUE_PARTITION_TTL:g} seconds, got {partition_ttl!r}"
        )


def _poll_wait(block: bool, deadline: float | None) -> float:
    """Seconds one server-side wait may last: none when not blocking, never past the deadline."""
    if not block:
        return 0.0
    left = config.QUEUE_POLL_TIMEOUT if deadline is None else max(0.0, deadline - time.monotonic())
    return min(left, config.QUEUE_POLL_TIMEOUT)
