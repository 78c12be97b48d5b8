"""The registry of objects (dicts, queues, secrets, volumes): names, ids, ephemeral lifetimes.

A named object is unique per (kind, workspace, environment, name). An ephemeral object has no name
and lives while its client keeps sending heartbeats. Kind-specific state lives in kv.py,
secret_store.py and volumes.py; this module only knows that an object exists.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from .. import config
from ..proto import api_pb2
from .control import ControlPlane, Invalid, NotFound, new_id
from .store import ObjectRow, Store

log = logging.getLogger("nano_modal.server")

KIND_NAMES: dict[int, str] = {
    api_pb2.OBJECT_KIND_DICT: "dict",
    api_pb2.OBJECT_KIND_QUEUE: "queue",
    api_pb2.OBJECT_KIND_SECRET: "secret",
    api_pb2.OBJECT_KIND_VOLUME: "volume",
}
_ID_PREFIX: dict[int, str] = {
    api_pb2.OBJECT_KIND_DICT: "di",
    api_pb2.OBJECT_KIND_QUEUE: "qu",
    api_pb2.OBJECT_KIND_SECRET: "st",
    api_pb2.OBJECT_KIND_VOLUME: "vo",
}
# Modal's rule: letters, digits, '-', '_' and '.'; at most 64 characters.
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class AlreadyExists(Exception):
    pass


class InUse(Exception):
    pass


def kind_name(kind: int) -> str:
    return KIND_NAMES.get(kind, "object")


def check_name(kind: int, name: str) -> None:
    what = kind_name(kind)
    if not name:
        raise Invalid(f"a {what} name cannot be empty")
    if len(name) > config.OBJECT_NAME_MAX or not _NAME.match(name):
        raise Invalid(
            f"invalid {what} name {name!r}: use at most {config.OBJECT_NAME_MAX} letters, digits, '-', '_' or '.'"
        )


def check_environment(environment_name: str) -> str:
    environment = environment_name or config.DEFAULT_ENVIRONMENT
    if len(environment) > config.OBJECT_NAME_MAX or not _NAME.match(environment):
        raise Invalid(f"invalid environment name {environment!r}")
    return environment


def describe(row: ObjectRow) -> str:
    what = kind_name(row.kind)
    return f"{what} {row.name!r}" if row.name else f"ephemeral {what} {row.object_id}"


class ObjectRegistry:
    def __init__(self, store: Store, control: ControlPlane) -> None:
        self.store = store
        self.control = control
        # Rows are read on every dict/queue operation: keep them in memory (this server is the
        # only writer of the objects table).
        self.rows: dict[str, ObjectRow] = {}
        self.heartbeats: dict[str, float] = {}  # ephemeral object id -> last heartbeat (monotonic)
        self.on_delete: list[Callable[[ObjectRow, list[str]], None]] = []  # (row, its volume blob ids)

    def recover(self) -> None:
        """After a restart, ephemeral objects get a fresh grace period for their clients to reappear."""
        now = time.monotonic()
        for row in self.store.ephemeral_objects():
            self.heartbeats[row.object_id] = now

    # ------------------------------------------------------------------ lookup

    def get(self, object_id: str, kind: int) -> ObjectRow:
        row = self.rows.get(object_id)
        if row is None:
            row = self.store.get_object(object_id)
            if row is not None:
                self.rows[object_id] = row
        if row is None or row.kind != kind:
            raise NotFound(f"{kind_name(kind)} {object_id} not found (it may have been deleted)")
        return row

    def get_or_create(
        self,
        kind: int,
        name: str,
        environment_name: str,
        create_if_missing: bool,
        ephemeral: bool,
        workspace: str = config.DEFAULT_WORKSPACE,
    ) -> tuple[ObjectRow, bool]:
        if kind not in KIND_NAMES:
            raise Invalid(f"unknown object kind {kind}")
        environment = check_environment(environment_name)
        if ephemeral:
            if name:
                raise Invalid("an ephemeral object has no name")
            return self._create(kind, None, environment, ephemeral=True, workspace=workspace), True
        check_name(kind, name)
        row = self.store.find_object(kind, environment, name, workspace)
        if row is not None:
            return row, False
        if not create_if_missing:
            raise NotFound(
                f"{kind_name(kind)} {name!r} not found in environment {environment!r}"
                " (pass create_if_missing=True to create it)"
            )
        return self._create(kind, name, environment, ephemeral=False, workspace=workspace), True

    def create_named(
        self, kind: int, name: str | None, environment: str, workspace: str, object_id: str | None = None
    ) -> ObjectRow:
        """A new named (or, with name None, anonymous) object; the caller checked that it does not exist."""
        return self._create(kind, name, environment, ephemeral=False, workspace=workspace, object_id=object_id)

    def _create(
        self,
        kind: int,
        name: str | None,
        environment: str,
        ephemeral: bool,
        workspace: str,
        object_id: str | None = None,
    ) -> ObjectRow:
        now = time.time()
        object_id = object_id or new_id(_ID_PREFIX[kind])
        row = ObjectRow(object_id, kind, name, environment, ephemeral, now, now, 0, workspace=workspace)
        self.store.create_object(row)
        self.rows[row.object_id] = row
        if ephemeral:
            self.heartbeats[row.object_id] = time.monotonic()
        return row

    def list_named(
        self, kind: int, environment_name: str, workspace: str = config.DEFAULT_WORKSPACE
    ) -> list[ObjectRow]:
        environment = check_environment(environment_name) if environment_name else None
        return self.store.list_objects(kind, environment, workspace)

    # ------------------------------------------------------------------ lifetime

    def heartbeat(self, object_id: str) -> None:
        if object_id in self.heartbeats:
            self.heartbeats[object_id] = time.monotonic()
        elif self.store.get_object(object_id) is None:
            raise NotFound(f"object {object_id} not found (it may have been deleted)")

    def delete(
        self,
        kind: int,
        name: str,
        environment_name: str,
        object_id: str,
        allow_missing: bool,
        workspace: str = config.DEFAULT_WORKSPACE,
    ) -> None:
        if object_id:
            row = self.rows.get(object_id) or self.store.get_object(object_id)
            if row is not None and row.kind != kind:
                row = None
            label = f"{kind_name(kind)} {object_id}"
        else:
            environment = check_environment(environment_name)
            check_name(kind, name)
            row = self.store.find_object(kind, environment, name, workspace)
            label = f"{kind_name(kind)} {name!r} in environment {environment!r}"
        if row is None:
            if allow_missing:
                return
            raise NotFound(f"{label} not found")
        users = self.users(row.object_id)
        if users:
            raise InUse(f"{describe(row)} is in use by {', '.join(users)}: stop those apps first, then delete it")
        self._delete(row)

    def rename(
        self, kind: int, name: str, environment_name: str, new_name: str, workspace: str = config.DEFAULT_WORKSPACE
    ) -> None:
        """Give a named object another name in its environment; its id, and so everything that
        holds it (mounts of running functions, hydrated handles), is unchanged."""
        environment = check_environment(environment_name)
        check_name(kind, name)
        check_name(kind, new_name)
        row = self.store.find_object(kind, environment, name, workspace)
        if row is None:
            raise NotFound(f"{kind_name(kind)} {name!r} in environment {environment!r} not found")
        if self.store.find_object(kind, environment, new_name, workspace) is not None:
            raise AlreadyExists(f"{kind_name(kind)} {new_name!r} already exists in environment {environment!r}")
        self.store.rename_object(row.object_id, new_name)
        self.rows.pop(row.object_id, None)  # read again, with its new name

    def users(self, object_id: str) -> list[str]:
        """Functions of running apps that mount (volumes) or inject (secrets) this object."""
        found = []
        for fn in self.control.functions.values():
            app = self.control.apps.get(fn.app_id)
            if app is None or app.state != "running":
                continue
            definition = fn.definition
            if (
                object_id in definition.secret_ids
                or any(m.volume_id == object_id for m in definition.volume_mounts)
                or any(object_id in m.secret_ids for m in definition.cloud_bucket_mounts)
            ):
                found.append(f"function {fn.name} of app {app.name}")
        return sorted(set(found))

    def _delete(self, row: ObjectRow) -> None:
        blob_ids = self.store.delete_object(row.object_id)
        self.rows.pop(row.object_id, None)
        self.heartbeats.pop(row.object_id, None)
        for hook in self.on_delete:
            hook(row, blob_ids)

    def reap_ephemeral(self) -> int:
        """Delete ephemeral objects whose client went silent; returns how many."""
        cutoff = time.monotonic() - config.EPHEMERAL_OBJECT_TIMEOUT
        count = 0
        for object_id in [i for i, seen in self.heartbeats.items() if seen < cutoff]:
            row = self.rows.get(object_id) or self.store.get_object(object_id)
            self.heartbeats.pop(object_id, None)
            if row is None:
                continue
            if self.users(object_id):
                self.heartbeats[object_id] = time.monotonic()  # still mounted by a running app: keep it
                continue
            log.info("deleting %s: its client stopped sending heartbeats", describe(row))
            self._delete(row)
            count += 1
        return count
