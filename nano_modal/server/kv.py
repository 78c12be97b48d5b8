"""Dicts and Queues: pickled bytes in the state store, served from the server's single event loop.

Every operation runs to completion between two awaits of that loop, and each is one store
transaction, so single-key operations (put if absent, pop, queue get) are atomic however
many containers call them at once. Blocking queue calls long-poll server-side: a parked
`get` is woken when an item arrives for it, a parked `put` when room appears.

Queue items live in the state store by default, or in Redis (`--queue redis://...`, see
redis_queues.py): either way this module keeps each partition's item count in memory and
parks the blocking calls; the item storage is only called through `QueueItems`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Protocol

from .. import config
from ..proto import api_pb2
from .control import Invalid
from .objects import ObjectRegistry
from .state import Signal
from .store import ObjectRow, Store

DICT = api_pb2.OBJECT_KIND_DICT
QUEUE = api_pb2.OBJECT_KIND_QUEUE
log = logging.getLogger("nano_modal.server")


def key_hash(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


def _check_key(key: bytes) -> None:
    if len(key) > config.DICT_MAX_KEY_BYTES:
        raise Invalid(f"Dict key is {len(key):,} bytes pickled; the limit is {config.DICT_MAX_KEY_BYTES:,}")


class EntryCache:
    """Recently used Dict values by (dict id, key hash), up to a byte budget, least recently used out.

    Writes go to the store first and then here, so a cached value is always the stored one.
    This holds because this server is the only writer of its store (as for the registry's rows).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self.size = 0

    def get(self, key: tuple[str, str]) -> bytes | None:
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: tuple[str, str], value: bytes) -> None:
        self.drop(key)
        if len(value) > self.max_bytes // 16:
            return  # one big value must not flush everything else
        self.entries[key] = value
        self.size += len(value)
        while self.size > self.max_bytes:
            _, old = self.entries.popitem(last=False)
            self.size -= len(old)

    def drop(self, key: tuple[str, str]) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old)

    def drop_dict(self, dict_id: str) -> None:
        for key in [k for k in self.entries if k[0] == dict_id]:
            self.drop(key)


class Dicts:
    def __init__(self, store: Store, registry: ObjectRegistry) -> None:
        self.store = store
        self.registry = registry
        self.cache = EntryCache(config.DICT_CACHE_BYTES)
        registry.on_delete.append(lambda row, _blobs: self.cache.drop_dict(row.object_id))

    def _id(self, dict_id: str) -> str:
        return self.registry.get(dict_id, DICT).object_id

    def get(self, dict_id: str, key: bytes) -> bytes | None:
        _check_key(key)
        slot = (self._id(dict_id), key_hash(key))
        value = self.cache.get(slot)
        if value is None:
            value = self.store.dict_get(*slot)
            if value is not None:
                self.cache.put(slot, value)
        return value

    def update(self, dict_id: str, entries: list[tuple[bytes, bytes]], if_not_exists: bool) -> bool:
        dict_id = self._id(dict_id)
        rows = []
        for key, value in entries:
            _check_key(key)
            if len(value) > config.DICT_MAX_VALUE_BYTES:
                raise Invalid(
                    f"Dict value is {len(value):,} bytes pickled; the limit is {config.DICT_MAX_VALUE_BYTES:,}"
                )
            rows.append((key_hash(key), key, value))
        if if_not_exists:
            rows = [r for r in rows if self.cache.get((dict_id, r[0])) is None]  # known to exist: skip
            if not rows:
                return False
        created = self.store.dict_put(dict_id, rows, if_not_exists)
        for hashed, _, value in rows:
            if if_not_exists:
                self.cache.drop((dict_id, hashed))  # written or not, the store knows which value won
            else:
                self.cache.put((dict_id, hashed), value)
        return created

    def pop(self, dict_id: str, key: bytes) -> bytes | None:
        _check_key(key)
        slot = (self._id(dict_id), key_hash(key))
        self.cache.drop(slot)
        return self.store.dict_pop(*slot)

    def len(self, dict_id: str) -> int:
        return self.store.dict_len(self._id(dict_id))

    def contents(self, dict_id: str, after: int, limit: int) -> tuple[list[tuple[int, bytes, bytes]], bool]:
        limit = min(max(1, limit), config.DICT_PAGE_SIZE)
        page = self.store.dict_page(self._id(dict_id), after, limit)
        return page, len(page) < limit

    def clear(self, dict_id: str) -> None:
        dict_id = self._id(dict_id)
        self.store.dict_clear(dict_id)
        self.cache.drop_dict(dict_id)


class QueueStorageUnavailable(Exception):
    """The storage of Queue items (Redis, with --queue) stayed unreachable past its retry bound."""


class QueueItems(Protocol):
    """Where Queue items live: the state store (StoreQueueItems) or Redis (redis_queues.RedisQueues)."""

    owns_items: bool  # True: deleting a Queue object must also delete its items here

    async def queue_put(self, queue_id: str, partition: str, values: list[bytes], expires_at: float) -> None: ...
    async def queue_expired(self, now: float) -> list[tuple[str, str]]: ...
    async def queue_take(self, queue_id: str, partition: str, n: int) -> list[bytes]: ...
    async def queue_peek(
        self, queue_id: str, partition: str, after_item_id: int, limit: int
    ) -> list[tuple[int, bytes]]: ...
    async def queue_counts(self, queue_id: str) -> dict[str, int]: ...
    async def queue_clear(self, queue_id: str, partition: str | None) -> None: ...
    async def queue_delete(self, queue_id: str) -> None: ...
    async def queue_ids(self) -> set[str]: ...


class StoreQueueItems:
    """The default: items in the state store's tables (deleted with the object's row)."""

    owns_items = False

    def __init__(self, store: Store) -> None:
        self.store = store

    async def queue_put(self, queue_id: str, partition: str, values: list[bytes], expires_at: float) -> None:
        self.store.queue_put(queue_id, partition, values, expires_at)

    async def queue_expired(self, now: float) -> list[tuple[str, str]]:
        return self.store.queue_expired(now)

    async def queue_take(self, queue_id: str, partition: str, n: int) -> list[bytes]:
        return self.store.queue_take(queue_id, partition, n)

    async def queue_peek(
        self, queue_id: str, partition: str, after_item_id: int, limit: int
    ) -> list[tuple[int, bytes]]:
        return self.store.queue_peek(queue_id, partition, after_item_id, limit)

    async def queue_counts(self, queue_id: str) -> dict[str, int]:
        return self.store.queue_counts(queue_id)

    async def queue_clear(self, queue_id: str, partition: str | None) -> None:
        self.store.queue_clear(queue_id, partition)

    async def queue_delete(self, queue_id: str) -> None:
        pass  # store.delete_object removed the rows

    async def queue_ids(self) -> set[str]:
        return set()


@dataclass
class QueueState:
    counts: dict[str, int]  # items per partition, mirrored from where the items live
    # Held across each call to the item storage that reads or changes counts: with Redis those
    # calls await, and two puts (or a put and a take) must not interleave with the mirror.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Parked `get`s per partition, woken one per item added (not all at once: with many
    # consumers, waking every one for each item would make them fight over it).
    getters: dict[str, deque[asyncio.Future[None]]] = field(default_factory=dict)
    added: Signal = field(default_factory=Signal)  # wakes iterators (peek / iterate)
    freed: Signal = field(default_factory=Signal)  # wakes `put`s waiting for room in a full partition

    def wake_getters(self, partition: str, n: int) -> None:
        waiting = self.getters.get(partition)
        while waiting and n > 0:
            future = waiting.popleft()
            if not future.done():
                future.set_result(None)
                n -= 1

    def wake_all(self) -> None:
        for waiting in self.getters.values():
            for future in waiting:
                if not future.done():
                    future.set_result(None)
        self.getters.clear()
        self.added.fire()
        self.freed.fire()


class Queues:
    def __init__(self, store: Store, registry: ObjectRegistry, items: QueueItems | None = None) -> None:
        self.store = store
        self.registry = registry
        self.items: QueueItems = items or StoreQueueItems(store)
        self.states: dict[str, QueueState] = {}
        self._deleting: set[asyncio.Task[None]] = set()
        registry.on_delete.append(self._forget)

    async def _state(self, queue_id: str) -> QueueState:
        self.registry.get(queue_id, QUEUE)
        state = self.states.get(queue_id)
        if state is None:
            counts = await self.items.queue_counts(queue_id)
            self.registry.get(queue_id, QUEUE)  # deleted meanwhile: NotFound
            state = self.states.setdefault(queue_id, QueueState(counts))
        return state

    def _reset(self, queue_id: str, state: QueueState) -> None:
        """The item storage failed mid-call: forget the mirrored counts (reloaded on next use)."""
        if self.states.get(queue_id) is state:
            del self.states[queue_id]
        state.wake_all()

    def _forget(self, row: ObjectRow, _blobs: list[str]) -> None:
        state = self.states.pop(row.object_id, None)
        if state is not None:
            state.wake_all()  # parked callers wake up and find the queue gone
        if self.items.owns_items and row.kind == QUEUE:
            task = asyncio.get_running_loop().create_task(self._delete_items(row.object_id, state))
            self._deleting.add(task)
            task.add_done_callback(self._deleting.discard)

    async def _delete_items(self, queue_id: str, state: QueueState | None) -> None:
        try:
            if state is None:
                await self.items.queue_delete(queue_id)
            else:
                async with state.lock:  # after the calls in flight, which could write again
                    await self.items.queue_delete(queue_id)
        except QueueStorageUnavailable:
            log.exception("items of deleted queue %s remain; the next server start deletes them", queue_id)

    async def delete_leftovers(self) -> int:
        """Delete the items of queues whose object is gone (deleted while the item storage was away)."""
        gone = [q for q in await self.items.queue_ids() if self.store.get_object(q) is None]
        for queue_id in gone:
            await self.items.queue_delete(queue_id)
        return len(gone)

    @staticmethod
    def _check_partition(partition: str) -> None:
        if len(partition.encode()) > config.QUEUE_MAX_PARTITION_KEY:
            raise Invalid(f"a partition key is at most {config.QUEUE_MAX_PARTITION_KEY} bytes, got {partition!r}")

    async def put(self, queue_id: str, partition: str, values: list[bytes], timeout: float, ttl: float = 0.0) -> bool:
        """Append all values, waiting up to `timeout` for room; False when the partition stayed full.
        The partition is cleared `ttl` seconds (default 24 h) after its last put."""
        self._check_partition(partition)
        ttl = ttl or config.QUEUE_PARTITION_TTL
        if not 0 < ttl <= config.QUEUE_PARTITION_TTL:
            raise Invalid(f"partition_ttl must be between 0 and {config.QUEUE_PARTITION_TTL:g} seconds, got {ttl:g}")
        for value in values:
            if len(value) > config.QUEUE_MAX_ITEM_BYTES:
                raise Invalid(
                    f"Queue item is {len(value):,} bytes pickled; the limit is {config.QUEUE_MAX_ITEM_BYTES:,}"
                )
        if len(values) > config.QUEUE_MAX_PARTITION_ITEMS:
            raise Invalid(
                f"cannot put {len(values):,} items at once: "
                f"a partition holds at most {config.QUEUE_MAX_PARTITION_ITEMS:,}"
            )
        deadline = time.monotonic() + min(timeout, config.QUEUE_POLL_TIMEOUT)
        while True:
            state = await self._state(queue_id)
            event = state.freed.event
            async with state.lock:
                if self.states.get(queue_id) is not state:
                    continue  # reset (or deleted) while this call waited for the lock: start again
                if state.counts.get(partition, 0) + len(values) <= config.QUEUE_MAX_PARTITION_ITEMS:
                    try:
                        await self.items.queue_put(queue_id, partition, values, time.time() + ttl)
                    except BaseException:
                        self._reset(queue_id, state)
                        raise
                    state.counts[partition] = state.counts.get(partition, 0) + len(values)
                    state.wake_getters(partition, len(values))
                    state.added.fire()
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await state.freed.wait(event, remaining)

    async def expire(self) -> int:
        """Clear the partitions whose TTL ran out; returns how many."""
        expired = await self.items.queue_expired(time.time())
        for queue_id in {q for q, _ in expired}:
            state = self.states.get(queue_id)
            if state is None:
                continue
            async with state.lock:  # a put may have refilled a partition since: recount
                if self.states.get(queue_id) is not state:
                    continue
                try:
                    state.counts = await self.items.queue_counts(queue_id)
                except BaseException:
                    self._reset(queue_id, state)
                    raise
            state.freed.fire()
        return len(expired)

    async def get(self, queue_id: str, partition: str, n_values: int, timeout: float) -> list[bytes]:
        """Remove up to n values from the head, waiting up to `timeout` for a first one."""
        self._check_partition(partition)
        deadline = time.monotonic() + min(timeout, config.QUEUE_POLL_TIMEOUT)
        while True:
            state = await self._state(queue_id)
            async with state.lock:
                if self.states.get(queue_id) is not state:
                    continue
                if state.counts.get(partition, 0) > 0:
                    try:
                        values = await self.items.queue_take(queue_id, partition, max(1, n_values))
                    except BaseException:
                        self._reset(queue_id, state)
                        raise
                    left = state.counts.get(partition, 0) - len(values)
                    if left > 0 and values:
                        state.counts[partition] = left
                        state.wake_getters(partition, 1)  # items remain: let the next parked get have them
                    else:
                        state.counts.pop(partition, None)
                    if values:
                        state.freed.fire()
                        return values
                    continue
            # No await from the check above to parking: a put cannot slip in between unseen.
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiting = state.getters.setdefault(partition, deque())
            waiting.append(future)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, remaining)
            finally:
                if not future.done():
                    future.cancel()
                with contextlib.suppress(ValueError):
                    waiting.remove(future)
                if not waiting and state.getters.get(partition) is waiting:
                    del state.getters[partition]

    async def next_items(
        self, queue_id: str, partition: str, after_item_id: int, max_items: int, timeout: float
    ) -> list[tuple[int, bytes]]:
        """Items after a cursor, without removing them (iterate, peek)."""
        self._check_partition(partition)
        deadline = time.monotonic() + min(timeout, config.QUEUE_POLL_TIMEOUT)
        while True:
            state = await self._state(queue_id)
            event = state.added.event
            items = await self.items.queue_peek(queue_id, partition, after_item_id, max(1, min(max_items, 1000)))
            remaining = deadline - time.monotonic()
            if items or remaining <= 0:
                return items
            await state.added.wait(event, remaining)

    async def len(self, queue_id: str, partition: str, total: bool) -> int:
        self._check_partition(partition)
        state = await self._state(queue_id)
        return sum(state.counts.values()) if total else state.counts.get(partition, 0)

    async def clear(self, queue_id: str, partition: str, everything: bool) -> None:
        self._check_partition(partition)
        state = await self._state(queue_id)
        async with state.lock:
            if self.states.get(queue_id) is not state:
                return await self.clear(queue_id, partition, everything)
            try:
                await self.items.queue_clear(queue_id, None if everything else partition)
            except BaseException:
                self._reset(queue_id, state)
                raise
            if everything:
                state.counts.clear()
            else:
                state.counts.pop(partition, None)
        state.freed.fire()
