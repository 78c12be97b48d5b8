"""`Dict`: a persistent, distributed key-value store shared by clients and containers.

```python
d = nano_modal.Dict.from_name("cache", create_if_missing=True)
d["key"] = {"any": "picklable value"}
d.put("lock", 1, skip_if_exists=True)   # True only for the first writer
with nano_modal.Dict.ephemeral() as tmp: ...
```

Keys and values are pickled; keys are compared by their pickled bytes. Every single-key
operation is atomic, however many containers use the dict at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from . import config
from ._object import EphemeralContext, ObjectManager, _Object, check_object_name
from ._utils.aio import NOT_NOW, twin
from .exception import InvalidError, SerializationError
from .proto import api_pb2
from .serialization import _short_repr, deserialize, serialize

_MISSING: Any = object()


def _pickle(obj: _Object, value: Any, role: str, limit: int) -> bytes:
    try:
        data = serialize(value)
    except Exception as exc:
        raise SerializationError(
            f"cannot store {_short_repr(value)} as a {role} of {obj._label()}: it cannot be pickled "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if len(data) > limit:
        raise InvalidError(
            f"{role} {_short_repr(value, 40)} is {len(data):,} bytes pickled; {obj._label()} takes at most {limit:,}"
        )
    return data


class Dict(_Object):
    _kind: ClassVar[api_pb2.ObjectKind] = api_pb2.OBJECT_KIND_DICT
    _type_name: ClassVar[str] = "Dict"
    objects: ClassVar[ObjectManager[Dict]]

    @classmethod
    def from_id(cls, dict_id: str) -> Dict:
        """A handle on a Dict by its id (`x.object_id`, from another process, say); checked on first use."""
        return cls(None, None, False, dict_id)

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None, create_if_missing: bool = False) -> Dict:
        """A handle on the named Dict; NotFoundError on first use if it does not exist (and may not be created)."""
        check_object_name(name, "Dict")
        return Dict(name, environment_name, create_if_missing)

    @staticmethod
    def ephemeral(
        data: Mapping[Any, Any] | None = None, *, environment_name: str | None = None
    ) -> EphemeralContext[Dict]:
        """`with Dict.ephemeral() as d:` a Dict that exists for the duration of the block."""

        async def fill(d: Dict) -> None:
            if data:
                await d.update.aio(data)

        return EphemeralContext(Dict(None, environment_name), fill)

    @staticmethod
    def delete(name: str, *, environment_name: str | None = None, allow_missing: bool = False) -> None:
        """Delete a named Dict (same as `Dict.objects.delete`)."""
        Dict.objects.delete(name, environment_name=environment_name, allow_missing=allow_missing)

    # ------------------------------------------------------------------ helpers

    def _key(self, key: Any) -> bytes:
        return _pickle(self, key, "key", config.DICT_MAX_KEY_BYTES)

    def _value(self, value: Any) -> bytes:
        return _pickle(self, value, "value", config.DICT_MAX_VALUE_BYTES)

    async def _get(self, key: Any) -> tuple[bool, Any]:
        key_bytes = self._key(key)
        client, dict_id = await self._resolve()
        response = await client.stub.DictGet(api_pb2.DictGetRequest(dict_id=dict_id, key=key_bytes))
        if not response.found:
            return False, None
        return True, deserialize(response.value, f"value of {_short_repr(key)} in {self._label()}")

    async def _write(self, entries: list[tuple[Any, Any]], if_not_exists: bool = False) -> bool:
        pairs = [api_pb2.DictEntry(key=self._key(k), value=self._value(v)) for k, v in entries]
        client, dict_id = await self._resolve()
        created = False
        batch: list[api_pb2.DictEntry] = []
        size = 0
        for i, pair in enumerate(pairs):  # keep each request well under the gRPC message limit
            batch.append(pair)
            size += len(pair.key) + len(pair.value)
            if i == len(pairs) - 1 or size >= config.MAP_INPUT_BATCH_BYTES:
                request = api_pb2.DictUpdateRequest(dict_id=dict_id, entries=batch, if_not_exists=if_not_exists)
                created = (await client.stub.DictUpdate(request)).created or created
                batch, size = [], 0
        return created

    # ------------------------------------------------------------------ mapping API

    @twin
    async def get(self, key: Any, default: Any = None) -> Any:
        """The value for key, or default."""
        found, value = await self._get(key)
        return value if found else default

    @twin
    async def __getitem__(self, key: Any) -> Any:
        found, value = await self._get(key)
        if not found:
            raise KeyError(key)
        return value

    # Blocking forms of single-key calls, on the caller's thread (see twin.fast).

    def _get_now(self, key: Any) -> Any:
        key_bytes = self._key(key)
        response = self._call_now("DictGet", lambda dict_id: api_pb2.DictGetRequest(dict_id=dict_id, key=key_bytes))
        if response is NOT_NOW or not response.found:
            return response if response is NOT_NOW else (False, None)
        return True, deserialize(response.value, f"value of {_short_repr(key)} in {self._label()}")

    @get.fast
    def _get_fast(self, key: Any, default: Any = None) -> Any:
        found = self._get_now(key)
        return found if found is NOT_NOW else (found[1] if found[0] else default)

    @__getitem__.fast
    def _getitem_fast(self, key: Any) -> Any:
        found = self._get_now(key)
        if found is not NOT_NOW and not found[0]:
            raise KeyError(key)
        return found if found is NOT_NOW else found[1]

    def _write_now(self, key: Any, value: Any, if_not_exists: bool = False) -> Any:
        entry = api_pb2.DictEntry(key=self._key(key), value=self._value(value))
        response = self._call_now(
            "DictUpdate",
            lambda dict_id: api_pb2.DictUpdateRequest(dict_id=dict_id, entries=[entry], if_not_exists=if_not_exists),
        )
        return response if response is NOT_NOW else response.created

    @twin
    async def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        """Set key to value. With skip_if_exists, leave an existing key alone; returns whether it was written."""
        created = await self._write([(key, value)], if_not_exists=skip_if_exists)
        return created if skip_if_exists else True

    @twin
    async def __setitem__(self, key: Any, value: Any) -> None:
        await self._write([(key, value)])

    @put.fast
    def _put_fast(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> Any:
        created = self._write_now(key, value, skip_if_exists)
        return created if created is NOT_NOW or skip_if_exists else True

    @__setitem__.fast
    def _setitem_fast(self, key: Any, value: Any) -> Any:
        created = self._write_now(key, value)
        return NOT_NOW if created is NOT_NOW else None

    @twin
    async def update(self, other: Mapping[Any, Any] | None = None, /, **kwargs: Any) -> None:
        """Set several keys (all pickled before anything is sent)."""
        entries = list((other or {}).items()) + list(kwargs.items())
        if entries:
            await self._write(entries)

    @twin
    async def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove key and return its value; KeyError if missing and no default is given."""
        key_bytes = self._key(key)
        client, dict_id = await self._resolve()
        response = await client.stub.DictPop(api_pb2.DictGetRequest(dict_id=dict_id, key=key_bytes))
        if not response.found:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return deserialize(response.value, f"value of {_short_repr(key)} in {self._label()}")

    @twin
    async def __delitem__(self, key: Any) -> None:
        await self.pop.aio(key)

    @twin
    async def contains(self, key: Any) -> bool:
        """Whether key is in the Dict."""
        key_bytes = self._key(key)
        client, dict_id = await self._resolve()
        return bool((await client.stub.DictContains(api_pb2.DictGetRequest(dict_id=dict_id, key=key_bytes))).found)

    @contains.fast
    def _contains_fast(self, key: Any) -> Any:
        key_bytes = self._key(key)
        response = self._call_now(
            "DictContains", lambda dict_id: api_pb2.DictGetRequest(dict_id=dict_id, key=key_bytes)
        )
        return response if response is NOT_NOW else bool(response.found)

    __contains__ = contains

    @twin
    async def len(self) -> int:
        """The number of keys."""
        client, dict_id = await self._resolve()
        return int((await client.stub.DictLen(api_pb2.DictLenRequest(dict_id=dict_id))).len)

    __len__ = len

    @twin
    async def clear(self) -> None:
        """Remove every key."""
        client, dict_id = await self._resolve()
        await client.stub.DictClear(api_pb2.DictLenRequest(dict_id=dict_id))

    async def _contents(self, keys: bool, values: bool) -> AsyncIterator[tuple[Any, Any]]:
        """Pages through the Dict in insertion order; changes made meanwhile may or may not show."""
        client, dict_id = await self._resolve()
        after = 0
        while True:
            request = api_pb2.DictContentsRequest(
                dict_id=dict_id, after=after, limit=config.DICT_PAGE_SIZE, keys=keys, values=values
            )
            page = await client.stub.DictContents(request)
            for entry in page.entries:
                key = deserialize(entry.key, f"a key of {self._label()}") if keys else None
                value = deserialize(entry.value, f"a value of {self._label()}") if values else None
                yield key, value
            if page.done:
                return
            after = page.next

    @twin
    async def keys(self) -> AsyncIterator[Any]:
        """Iterate over the keys."""
        async for key, _ in self._contents(True, False):
            yield key

    __iter__ = keys

    @twin
    async def values(self) -> AsyncIterator[Any]:
        """Iterate over the values."""
        async for _, value in self._contents(False, True):
            yield value

    @twin
    async def items(self) -> AsyncIterator[tuple[Any, Any]]:
        """Iterate over (key, value) pairs."""
        async for pair in self._contents(True, True):
            yield pair


Dict.objects = ObjectManager(Dict)
