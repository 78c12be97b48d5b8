"""Queue items in Redis (`nano-modal server --queue redis://host:port/db`).

The same operations as the SQL store's queue_* methods, which kv.Queues drives either way:
the object itself (name, environment) stays in the state store, only its items live here.
Each operation is one Lua script, so it is atomic in Redis. Writes carry a token: the
script records its result under it, so an operation retried after the connection broke
(Redis restarting) returns what the first attempt did instead of doing it twice: a put
is not duplicated and the items of a take are not lost. Tokens the server has received
the answer of are deleted by its next write (and expire anyway).

Partition TTLs use the server's expiry sweep (as with SQL), not Redis key expiry: the
server mirrors each partition's item count, which must drop with the items.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .. import config
from .kv import QueueStorageUnavailable

log = logging.getLogger("nano_modal.server")
T = TypeVar("T")

# ---------------------------------------------------------------- every Redis key used here
#   nano_modal:q:{queue_id}:p:{partition}  list    a partition's items, oldest first; each is a 16-digit
#                                                  item id (cursor of iterate/peek) then the pickled value
#   nano_modal:q:{queue_id}:seq            hash    partition -> last item id given out (never reused)
#   nano_modal:q:{queue_id}:parts          set     partitions that may hold items
#   nano_modal:q:expiry                    zset    "{queue_id}:{partition}" scored by its expiry (unix s)
#   nano_modal:q:queues                    set     queue ids that have keys here
#   nano_modal:q:done:{token}              list    result of a write ("1" for a put), until the server has its answer
PREFIX = "nano_modal:q:"
EXPIRY = PREFIX + "expiry"
QUEUES = PREFIX + "queues"
ID_DIGITS = 16


def partition_key(queue_id: str, partition: str) -> str:
    return f"{PREFIX}{queue_id}:p:{partition}"


def seq_key(queue_id: str) -> str:
    return f"{PREFIX}{queue_id}:seq"


def parts_key(queue_id: str) -> str:
    return f"{PREFIX}{queue_id}:parts"


def done_key(token: str) -> str:
    return f"{PREFIX}done:{token}"


# The same patterns for the scripts, which reach a queue's partitions by name. Keys not passed
# in KEYS are fine on a single Redis (not Redis Cluster, which this does not support).
_LUA_PRELUDE = f"""
local function partition_key(q, p) return '{PREFIX}' .. q .. ':p:' .. p end
local function parts_key(q) return '{PREFIX}' .. q .. ':parts' end
local function push(key, items)  -- in slices: unpack() of thousands of values overflows Lua's stack
  for i = 1, #items, 500 do redis.call('RPUSH', key, unpack(items, i, math.min(i + 499, #items))) end
end
local function forget_acked(first)  -- KEYS[first..]: done tokens whose answer arrived
  for i = first, #KEYS do redis.call('DEL', KEYS[i]) end
end
local function drop_partition(q, p)
  redis.call('DEL', partition_key(q, p))
  redis.call('SREM', parts_key(q), p)
  redis.call('ZREM', '{EXPIRY}', q .. ':' .. p)
end
"""

# KEYS: partition, seq, parts, done, acked...  ARGV: queue_id, partition, expires_at, done_ms, values...
_PUT = """
forget_acked(5)
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end  -- a retry of a put that was done
local n = #ARGV - 4
local last = redis.call('HINCRBY', KEYS[2], ARGV[2], n)
local items = {}
for i = 1, n do items[i] = string.format('%016d', last - n + i) .. ARGV[4 + i] end
push(KEYS[1], items)
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('ZADD', '@EXPIRY@', ARGV[3], ARGV[1] .. ':' .. ARGV[2])
redis.call('SADD', '@QUEUES@', ARGV[1])
redis.call('SET', KEYS[4], '1', 'PX', ARGV[4])
return 1
"""

# KEYS: partition, done, acked...  ARGV: n, done_ms
_TAKE = """
forget_acked(3)
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.call('LRANGE', KEYS[2], 0, -1) end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  push(KEYS[2], items)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return items
"""

# KEYS: done, acked...  ARGV: now, done_ms, limit
_EXPIRED = """
forget_acked(2)
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('LRANGE', KEYS[1], 0, -1) end
local due = redis.call('ZRANGEBYSCORE', '@EXPIRY@', '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  local sep = string.find(member, ':', 1, true)
  drop_partition(string.sub(member, 1, sep - 1), string.sub(member, sep + 1))
end
if #due > 0 then
  push(KEYS[1], due)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return due
"""

# KEYS: partition  ARGV: after_item_id, limit. A partition's ids are consecutive (puts append
# the next ids, takes trim the head), so the item after a cursor is found by arithmetic.
_PEEK = f"""
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return {{}} end
local start = math.max(0, tonumber(ARGV[1]) + 1 - tonumber(string.sub(head, 1, {ID_DIGITS})))
return redis.call('LRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
"""

# ARGV: queue_id. Flat list: partition, count, partition, count...
_COUNTS = """
local out = {}
for _, p in ipairs(redis.call('SMEMBERS', parts_key(ARGV[1]))) do
  local n = redis.call('LLEN', partition_key(ARGV[1], p))
  if n > 0 then out[#out + 1] = p; out[#out + 1] = n end
end
return out
"""

# ARGV: queue_id, partition, everything ("1"), delete the queue ("1")
_CLEAR = """
local q = ARGV[1]
local parts = {ARGV[2]}
if ARGV[3] == '1' then parts = redis.call('SMEMBERS', parts_key(q)) end
for _, p in ipairs(parts) do drop_partition(q, p) end
if ARGV[4] == '1' then
  redis.call('DEL', parts_key(q), '@PREFIX@' .. q .. ':seq')
  redis.call('SREM', '@QUEUES@', q)
end
return 1
"""


def _script(body: str) -> str:
    for placeholder, value in (("@EXPIRY@", EXPIRY), ("@QUEUES@", QUEUES), ("@PREFIX@", PREFIX)):
        body = body.replace(placeholder, value)
    return _LUA_PRELUDE + body


class RedisQueues:
    """kv.Queues' storage of items in Redis: the queue_* operations of store.Store, awaitable."""

    owns_items = True  # a deleted Queue's keys are deleted here (the state store only drops its row)

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"--queue must be a redis:// (or rediss://, unix://) URL, got {url!r}")
        self.where = f"Redis at {parts.path if parts.scheme == 'unix' else f'{parts.hostname}:{parts.port or 6379}'}"
        # No retries inside redis-py: _retry() below bounds them and knows which are safe.
        self.client = aioredis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=10.0, retry=Retry(NoBackoff(), 0)
        )
        self._put = self.client.register_script(_script(_PUT))
        self._take = self.client.register_script(_script(_TAKE))
        self._expired = self.client.register_script(_script(_EXPIRED))
        self._peek = self.client.register_script(_script(_PEEK))
        self._counts = self.client.register_script(_script(_COUNTS))
        self._clear = self.client.register_script(_script(_CLEAR))
        self._acked: list[str] = []  # done keys whose answer arrived: the next write deletes them
        self._done_ms = int((config.QUEUE_REDIS_RETRY_TIMEOUT + 60) * 1000)

    @classmethod
    async def connect(cls, url: str) -> RedisQueues:
        """At server start: fail with a clear error when Redis is not there, not at the first put."""
        items = cls(url)
        await items._retry("connect", lambda: items.client.ping())
        return items

    async def close(self) -> None:
        await self.client.aclose()

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        give_up = time.monotonic() + config.QUEUE_REDIS_RETRY_TIMEOUT
        delay = 0.05
        while True:
            try:
                return await attempt()
            except (RedisConnectionError, RedisTimeoutError) as exc:  # includes "LOADING" after a restart
                if time.monotonic() + delay > give_up:
                    raise QueueStorageUnavailable(
                        f"Queue storage unavailable: {self.where} unreachable for "
                        f"{config.QUEUE_REDIS_RETRY_TIMEOUT:g}s ({exc}); queue {what} failed"
                    ) from exc
                log.warning("%s unreachable (%s), retrying queue %s in %.2fs", self.where, exc, what, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _write(self, what: str, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a write script with a fresh done token (the same on every retry)."""
        done = done_key(uuid.uuid4().hex)
        acked, self._acked = self._acked, []
        result = await self._retry(what, lambda: script(keys=[*keys, done, *acked], args=args))
        self._acked.append(done)
        return result

    @staticmethod
    def _value(item: bytes) -> bytes:
        return item[ID_DIGITS:]

    async def queue_put(self, queue_id: str, partition: str, values: list[bytes], expires_at: float) -> None:
        if not values:
            return
        keys = [partition_key(queue_id, partition), seq_key(queue_id), parts_key(queue_id)]
        await self._write("put", self._put, keys, [queue_id, partition, expires_at, self._done_ms, *values])

    async def queue_expired(self, now: float) -> list[tuple[str, str]]:
        due = await self._write("expiry", self._expired, [], [now, self._done_ms, 1000])
        pairs = [bytes(m).decode().split(":", 1) for m in due]
        return [(q, p) for q, p in pairs]

    async def queue_take(self, queue_id: str, partition: str, n: int) -> list[bytes]:
        items = await self._write("get", self._take, [partition_key(queue_id, partition)], [n, self._done_ms])
        return [self._value(i) for i in items]

    async def queue_peek(
        self, queue_id: str, partition: str, after_item_id: int, limit: int
    ) -> list[tuple[int, bytes]]:
        key = partition_key(queue_id, partition)
        items = await self._retry("peek", lambda: self._peek(keys=[key], args=[after_item_id, limit]))
        return [(int(i[:ID_DIGITS]), self._value(i)) for i in items]

    async def queue_counts(self, queue_id: str) -> dict[str, int]:
        flat = await self._retry("len", lambda: self._counts(keys=[], args=[queue_id]))
        return {bytes(flat[i]).decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def queue_clear(self, queue_id: str, partition: str | None) -> None:
        args = [queue_id, partition or "", "1" if partition is None else "0", "0"]
        await self._retry("clear", lambda: self._clear(keys=[], args=args))

    async def queue_delete(self, queue_id: str) -> None:
        """Every key of a deleted Queue."""
        await self._retry("delete", lambda: self._clear(keys=[], args=[queue_id, "", "1", "1"]))

    async def queue_ids(self) -> set[str]:
        """Queues that have keys here (to find those deleted while this server could not say so)."""
        members = await self._retry("list", lambda: self._queue_set())
        return {m.decode() if isinstance(m, bytes) else m for m in members}

    async def _queue_set(self) -> set[bytes | str]:
        return await self.client.smembers(QUEUES)
