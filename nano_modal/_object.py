"""What Dict, Queue, Secret and Volume share: lazy hydration, pickling by id, ephemeral lifetimes.

An object handle starts as a name (`Dict.from_name("cache")`); its first use asks the
server for the object's id ("hydration"). Handles pickle as (kind, name, id), so a handle
passed to a function, or captured by one, names the same object inside the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from . import config
from ._utils.aio import NOT_NOW, run_blocking, run_in_background, twin
from .client import Client, client_of
from .exception import AlreadyExistsError, ExecutionError, InvalidError
from .proto import api_pb2

ObjT = TypeVar("ObjT", bound="_Object")

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def check_object_name(name: str, type_name: str) -> None:
    """Modal's rule for object names, checked before any network call."""
    if not isinstance(name, str) or not name:
        raise InvalidError(f"a {type_name} name must be a non-empty string, got {name!r}")
    if len(name) > config.OBJECT_NAME_MAX or not _NAME.match(name):
        raise InvalidError(
            f"invalid {type_name} name {name!r}: use at most {config.OBJECT_NAME_MAX} letters, digits, '-', '_' or '.'"
        )


def environment(environment_name: str | None) -> str:
    """The environment a request names; empty means the server's default."""
    return environment_name or os.environ.get(config.ENV_ENVIRONMENT, "")


class _Object:
    _kind: ClassVar[api_pb2.ObjectKind]
    _type_name: ClassVar[str]

    def __init__(
        self,
        name: str | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        object_id: str | None = None,
    ) -> None:
        self._name = name
        self._environment_name = environment_name
        self._create_if_missing = create_if_missing
        self._object_id = object_id
        self._hydrate_lock: asyncio.Lock | None = None
        self._created_at: float | None = None

    # ------------------------------------------------------------------ identity

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def object_id(self) -> str:
        if self._object_id is None:
            raise ExecutionError(f"{self!r} is not hydrated yet: use it once, or call .hydrate()")
        return self._object_id

    @property
    def is_hydrated(self) -> bool:
        return self._object_id is not None

    @property
    def client(self) -> Client:
        """The client that hydrated this object; AttributeError before it is hydrated."""
        return client_of(self, self.is_hydrated)

    def _label(self) -> str:
        if self._name:
            return f"{self._type_name} {self._name!r}"
        return f"ephemeral {self._type_name} {self._object_id or '(not created)'}"

    def __repr__(self) -> str:
        parts = [f"name={self._name!r}"] if self._name else []
        if self._object_id:
            parts.append(f"object_id={self._object_id!r}")
        return f"<nano_modal.{self._type_name} {' '.join(parts) or '(unnamed)'}>"

    # ------------------------------------------------------------------ hydration

    def _call_now(self, method: str, request: Callable[[str], Any]) -> Any:
        """A blocking twin's fast path: `method` with `request(object_id)` on the caller's thread
        once this object is hydrated and the client has a fast lane; NOT_NOW otherwise."""
        client = Client._instance
        if client is None or self._object_id is None:
            return NOT_NOW
        return client.stub.call_now(method, request(self._object_id))

    async def _resolve(self) -> tuple[Client, str]:
        """The client and this object's id, asking the server on first use."""
        client = await Client.get()
        if self._object_id is None:
            if self._hydrate_lock is None:
                self._hydrate_lock = asyncio.Lock()
            async with self._hydrate_lock:
                if self._object_id is None:
                    self._object_id = await self._load(client)
        return client, self._object_id

    async def _load(self, client: Client) -> str:
        if not self._name:
            raise ExecutionError(f"{self._type_name} has neither a name nor an id")
        request = api_pb2.ObjectGetOrCreateRequest(
            kind=self._kind,
            name=self._name,
            environment_name=environment(self._environment_name),
            create_if_missing=self._create_if_missing,
        )
        response = await client.stub.ObjectGetOrCreate(request)
        return str(response.object_id)

    @twin
    async def hydrate(self: ObjT) -> ObjT:
        """Resolve the name to the server's object now (otherwise it happens on first use)."""
        await self._resolve()
        return self

    @twin
    async def info(self, *, refresh: bool = False) -> Any:
        """What the server knows of this object: its name, environment and creation time (a
        `types.DictInfo`, `QueueInfo`, `SecretInfo` or `VolumeInfo`; always fetched: `refresh`
        is accepted for Modal compatibility)."""
        from . import types

        del refresh
        client, object_id = await self._resolve()
        request = api_pb2.ObjectListRequest(kind=self._kind, environment_name=environment(self._environment_name))
        found = next((o for o in (await client.stub.ObjectList(request)).objects if o.object_id == object_id), None)
        created_at = datetime.datetime.fromtimestamp(found.created_at, datetime.UTC) if found else None
        return types.object_info(self._type_name, self._name, found.environment_name if found else None, created_at)

    # ------------------------------------------------------------------ pickling

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._name, self._environment_name, self._create_if_missing, self._object_id))

    # ------------------------------------------------------------------ ephemeral objects

    @classmethod
    def _ephemeral(cls: type[ObjT], environment_name: str | None = None) -> EphemeralContext[ObjT]:
        return EphemeralContext(cls(None, environment_name))

    @classmethod
    def from_id(cls: type[ObjT], object_id: str) -> ObjT:
        """A handle on an existing object by its id."""
        return cls(None, None, False, object_id)


def _rebuild(
    cls: type[ObjT], name: str | None, environment_name: str | None, create_if_missing: bool, object_id: str | None
) -> ObjT:
    return cls(name, environment_name, create_if_missing, object_id)


class EphemeralContext(Generic[ObjT]):
    """`with X.ephemeral() as x:` (or `async with`): an object deleted when the block ends.

    While the block runs, a heartbeat keeps it alive; if this process dies, the server
    deletes it once the heartbeats stop.
    """

    def __init__(self, obj: ObjT, init: Any = None) -> None:
        self.obj = obj
        self._init = init
        self._heartbeat: asyncio.Task[None] | None = None

    async def _start(self) -> ObjT:
        client = await Client.get()
        request = api_pb2.ObjectGetOrCreateRequest(
            kind=self.obj._kind,
            environment_name=environment(self.obj._environment_name),
            ephemeral=True,
        )
        self.obj._object_id = (await client.stub.ObjectGetOrCreate(request)).object_id
        self._heartbeat = asyncio.create_task(self._beat(client, self.obj.object_id))
        if self._init is not None:
            try:
                await self._init(self.obj)
            except BaseException:
                await self._stop()
                raise
        return self.obj

    async def _beat(self, client: Client, object_id: str) -> None:
        while True:
            await asyncio.sleep(config.EPHEMERAL_OBJECT_HEARTBEAT)
            with contextlib.suppress(Exception):
                await client.stub.ObjectHeartbeat(api_pb2.ObjectHeartbeatRequest(object_id=object_id), timeout=10)

    async def _stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self.obj._object_id is None:
            return
        client = await Client.get()
        with contextlib.suppress(Exception):  # deleted already, or the server is gone: it reaps it anyway
            await client.stub.ObjectDelete(
                api_pb2.ObjectDeleteRequest(kind=self.obj._kind, object_id=self.obj._object_id, allow_missing=True),
                timeout=10,
            )

    def __enter__(self) -> ObjT:
        return run_blocking(self._start())

    def __exit__(self, *exc: object) -> None:
        run_blocking(self._stop())

    async def __aenter__(self) -> ObjT:
        return await run_in_background(self._start())

    async def __aexit__(self, *exc: object) -> None:
        await run_in_background(self._stop())


class ObjectManager(Generic[ObjT]):
    """`X.objects`: list, create and delete named objects of one kind."""

    def __init__(self, cls: type[ObjT]) -> None:
        self._cls = cls

    @twin
    async def list(
        self,
        *,
        max_objects: int | None = None,
        created_before: datetime.datetime | str | None = None,
        environment_name: str | None = None,
    ) -> list[ObjT]:
        """Named objects of this kind in the environment, oldest first: at most `max_objects`
        of them, only those created before `created_before` (a datetime or an ISO 8601 string)."""
        if max_objects is not None and max_objects < 0:
            raise InvalidError(f"max_objects must not be negative, got {max_objects}")
        before = _timestamp(created_before)
        client = await Client.get()
        request = api_pb2.ObjectListRequest(kind=self._cls._kind, environment_name=environment(environment_name))
        response = await client.stub.ObjectList(request)
        found: list[ObjT] = []
        for info in response.objects:
            if (before is not None and info.created_at >= before) or len(found) == max_objects:
                continue
            obj = self._cls(info.name, info.environment_name, False, info.object_id)
            obj._created_at = info.created_at
            found.append(obj)
        return found

    @twin
    async def create(self, name: str, *, environment_name: str | None = None, allow_existing: bool = False) -> None:
        """Create a named object; AlreadyExistsError if it exists, unless allow_existing."""
        await self._create(name, environment_name, allow_existing)

    async def _create(self, name: str, environment_name: str | None, allow_existing: bool) -> None:
        check_object_name(name, self._cls._type_name)
        client = await Client.get()
        request = api_pb2.ObjectGetOrCreateRequest(
            kind=self._cls._kind,
            name=name,
            environment_name=environment(environment_name),
            create_if_missing=True,
        )
        response = await client.stub.ObjectGetOrCreate(request)
        if not response.created and not allow_existing:
            raise AlreadyExistsError(f"{self._cls._type_name} {name!r} already exists")

    @twin
    async def delete(self, name: str, *, environment_name: str | None = None, allow_missing: bool = False) -> None:
        """Delete a named object and everything in it. This cannot be undone."""
        check_object_name(name, self._cls._type_name)
        client = await Client.get()
        await client.stub.ObjectDelete(
            api_pb2.ObjectDeleteRequest(
                kind=self._cls._kind,
                name=name,
                environment_name=environment(environment_name),
                allow_missing=allow_missing,
            )
        )


def _timestamp(when: datetime.datetime | str | None) -> float | None:
    if when is None:
        return None
    if isinstance(when, str):
        try:
            when = datetime.datetime.fromisoformat(when)
        except ValueError:
            raise InvalidError(f"created_before must be a datetime or an ISO 8601 string, got {when!r}") from None
    if when.tzinfo is None:
        when = when.astimezone()  # a naive time is local time, as datetime.timestamp() reads it
    return when.timestamp()
