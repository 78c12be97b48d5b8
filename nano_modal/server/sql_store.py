"""The Store on SQLAlchemy Core: a SQLite file by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from . import migrations
from .store import (
    AppRow,
    AttemptRow,
    CallRow,
    DeploymentRow,
    FunctionRow,
    InputRow,
    LogRow,
    ObjectRow,
    OutputRow,
    Store,
    VolumeFileRow,
)
from .store_retry import retry_transient

metadata = sa.MetaData()

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_apps_name_state", "name", "state"),
)

proxy_tokens = sa.Table(
    "proxy_tokens",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("function_id", sa.String(64), primary_key=True),
    sa.Column("last_fire", sa.Float, nullable=False),  # the scheduled time of the last run started
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("tag", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("spec", sa.LargeBinary, nullable=False),
    sa.Column("rollback_of", sa.Integer, nullable=False),
)

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False, index=True),
    sa.Column("function_name", sa.String(255), nullable=False),
    sa.Column("container_id", sa.String(64), nullable=False),
    sa.Column("fd", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_logs_app_seq", "app_id", "seq"),
)

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("function_id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(64), sa.ForeignKey("apps.app_id"), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("definition", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("call_id", sa.String(64), primary_key=True),
    sa.Column("function_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("num_inputs", sa.Integer, nullable=False),
    sa.Column("inputs_complete", sa.Boolean, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)

inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column("input_id", sa.String(64), primary_key=True),
    sa.Column("call_id", sa.String(64), nullable=False, index=True),
    sa.Column("function_id", sa.String(64), nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("args", sa.LargeBinary, nullable=False),
    sa.Column("args_blob", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("method_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("finished", sa.Boolean, nullable=False, index=True),
)

outputs = sa.Table(
    "outputs",
    metadata,
    sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(64), nullable=False),
    sa.Column("input_id", sa.String(64), nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("data_blob", sa.String(64), nullable=False),
    sa.Column("exception_repr", sa.Text, nullable=False),
    sa.Column("traceback", sa.Text, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Index("ix_outputs_call_cursor", "call_id", "cursor"),
)


# ---------------------------------------------------------------- objects (dicts, queues, secrets, volumes)

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # SQLite autoincrements only INTEGER keys

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("object_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("name", sa.String(255), nullable=True),  # NULL for ephemeral/anonymous: NULLs never collide
    sa.Column("environment", sa.String(255), nullable=False),
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("kind", "environment", "name", name="uq_objects_name"),
)

dict_entries = sa.Table(
    "dict_entries",
    metadata,
    sa.Column("entry_id", _BIGID, primary_key=True, autoincrement=True),  # insertion order, for iteration
    sa.Column("dict_id", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),  # sha256 of the pickled key: keys can be long
    sa.Column("key", sa.LargeBinary, nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("dict_id", "key_hash", name="uq_dict_entries_key"),
)

queue_items = sa.Table(
    "queue_items",
    metadata,
    sa.Column("item_id", _BIGID, primary_key=True, autoincrement=True),  # FIFO order
    sa.Column("queue_id", sa.String(64), nullable=False),
    sa.Column("partition", sa.String(255), nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Index("ix_queue_items_head", "queue_id", "partition", "item_id"),
)

queue_partitions = sa.Table(
    "queue_partitions",
    metadata,
    sa.Column("queue_id", sa.String(64), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),  # partition_ttl after its last put
    sa.Index("ix_queue_partitions_expires_at", "expires_at"),
)

secret_values = sa.Table(
    "secrets",
    metadata,
    sa.Column("secret_id", sa.String(64), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),  # Fernet token of the JSON variables
    sa.Column("updated_at", sa.Float, nullable=False),
)

volume_files = sa.Table(
    "volume_files",
    metadata,
    sa.Column("volume_id", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(4096), primary_key=True),
    sa.Column("blob_id", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mode", sa.Integer, nullable=False),
    sa.Column("mtime", sa.Float, nullable=False),
)

_IN_CHUNK = 500  # values per IN (...) list: well under every database's parameter limit


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]


# Hot-path statements, built once (SQLAlchemy caches their compiled form).
_INSERT_CALL = calls.insert()
_INSERT_INPUT = inputs.insert()
_INSERT_OUTPUT = outputs.insert()
_FINISH_INPUTS = (
    inputs.update().where(inputs.c.input_id.in_(sa.bindparam("ids", expanding=True))).values(finished=True, args=b"")
)
_SET_ATTEMPT = (
    inputs.update().where(inputs.c.input_id == sa.bindparam("b_input_id")).values(attempt=sa.bindparam("b_attempt"))
)
_COUNT_INPUTS = calls.update().where(calls.c.call_id == sa.bindparam("b_call_id"))


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + NORMAL: durable across a crash of this process, one fsync per checkpoint.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# The hot object operations' statements, built once: building a Core statement per call
# costs ~160 µs of CPU (cache-key generation), more than SQLite's own work for a small write.
# Parameters are "b_<column>": plain column names are reserved in INSERT/UPDATE statements.
_b = sa.bindparam
_ENTRY = (dict_entries.c.dict_id == _b("b_dict_id"), dict_entries.c.key_hash == _b("b_key_hash"))
_DICT_GET = sa.select(dict_entries.c.value).where(*_ENTRY)
_DICT_HAS = sa.select(dict_entries.c.entry_id).where(*_ENTRY)
_DICT_UPDATE = dict_entries.update().where(*_ENTRY).values(value=_b("b_value"))
_DICT_DELETE = dict_entries.delete().where(*_ENTRY)
_PARTITION = (queue_partitions.c.queue_id == _b("b_queue_id"), queue_partitions.c.partition == _b("b_partition"))
_QUEUE_TOUCH = queue_partitions.update().where(*_PARTITION).values(expires_at=_b("b_expires_at"))
_QUEUE_HEAD = (
    sa.select(queue_items.c.item_id, queue_items.c.value)
    .where(queue_items.c.queue_id == _b("b_queue_id"), queue_items.c.partition == _b("b_partition"))
    .order_by(queue_items.c.item_id)
    .limit(_b("b_n"))
)
_QUEUE_DELETE_THROUGH = queue_items.delete().where(
    queue_items.c.queue_id == _b("b_queue_id"),
    queue_items.c.partition == _b("b_partition"),
    queue_items.c.item_id <= _b("b_last"),
)


@retry_transient
class SqlStore(Store):
    def __init__(self, url: str) -> None:
        if url.startswith(("postgresql://", "postgres://")):  # plain URLs mean the driver we ship with
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.engine = sa.create_engine(url, pool_pre_ping=not url.startswith("sqlite"))  # survive a DB restart
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _tune_sqlite)
        migrations.upgrade(self.engine, new_from=metadata)
        # Tables of the models that no revision creates yet (a branch in progress); a no-op once
        # versions/ covers them, which tests/server/test_migrations.py checks.
        metadata.create_all(self.engine)
        self._cursor_lock = threading.Lock()
        self._last_cursor = self.max_cursor()

    def create_app(self, app: AppRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(apps.insert().values(**vars(app)))

    def set_app_state(self, app_id: str, state: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(apps.update().where(apps.c.app_id == app_id).values(state=state))

    def get_app(self, app_id: str) -> AppRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(apps.select().where(apps.c.app_id == app_id)).mappings().first()
        return AppRow(**row) if row else None

    def running_apps(self) -> list[AppRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(apps.select().where(apps.c.state != "stopped")).mappings().all()
        return [AppRow(**row) for row in rows]

    def list_apps(self) -> list[AppRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(apps.select().order_by(apps.c.created_at)).mappings().all()
        return [AppRow(**row) for row in rows]

    def find_deployed_app(self, name: str) -> AppRow | None:
        query = apps.select().where(apps.c.name == name, apps.c.state == "deployed")
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return AppRow(**row) if row else None

    def set_app_version(self, app_id: str, version: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(apps.update().where(apps.c.app_id == app_id).values(version=version))

    def add_deployment(self, deployment: DeploymentRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(deployments.insert().values(**vars(deployment)))

    def deployments(self, app_id: str) -> list[DeploymentRow]:
        query = deployments.select().where(deployments.c.app_id == app_id).order_by(deployments.c.version)
        with self.engine.connect() as conn:
            return [DeploymentRow(**row) for row in conn.execute(query).mappings()]

    def app_functions(self, app_id: str) -> list[FunctionRow]:
        query = functions.select().where(functions.c.app_id == app_id).order_by(functions.c.created_at)
        with self.engine.connect() as conn:
            return [FunctionRow(**row) for row in conn.execute(query).mappings()]

    def update_function(self, function_id: str, definition: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(functions.update().where(functions.c.function_id == function_id).values(definition=definition))

    def add_logs(self, rows: list[LogRow]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(logs.insert(), [vars(r) for r in rows])

    def tail_logs(self, app_id: str, limit: int) -> list[LogRow]:
        query = logs.select().where(logs.c.app_id == app_id).order_by(logs.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = [LogRow(**{k: v for k, v in row.items() if k != "seq"}) for row in conn.execute(query).mappings()]
        return rows[::-1]

    def delete_logs_before(self, timestamp: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(logs.delete().where(logs.c.timestamp < timestamp))

    def create_function(self, function: FunctionRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(functions.insert().values(**vars(function)))

    def get_function(self, function_id: str) -> FunctionRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(functions.select().where(functions.c.function_id == function_id)).mappings().first()
        return FunctionRow(**row) if row else None

    def create_call(self, call: CallRow, rows: list[InputRow], schedule_fire: float | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(_INSERT_CALL, vars(call))
            if rows:
                conn.execute(_INSERT_INPUT, [{**vars(r), "finished": False} for r in rows])
            if schedule_fire is not None:
                self._set_last_fire(conn, call.function_id, schedule_fire)

    def create_proxy_token(self, key: str, secret_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(proxy_tokens.insert().values(key=key, secret_hash=secret_hash, created_at=time.time()))

    def proxy_token_hash(self, key: str) -> str | None:
        query = sa.select(proxy_tokens.c.secret_hash).where(proxy_tokens.c.key == key)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return str(value) if value is not None else None

    def schedule_last_fire(self, function_id: str) -> float | None:
        query = sa.select(schedules.c.last_fire).where(schedules.c.function_id == function_id)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return float(value) if value is not None else None

    def set_schedule_last_fire(self, function_id: str, fire_at: float) -> None:
        with self.engine.begin() as conn:
            self._set_last_fire(conn, function_id, fire_at)

    @staticmethod
    def _set_last_fire(conn: sa.Connection, function_id: str, fire_at: float) -> None:
        updated = conn.execute(
            schedules.update().where(schedules.c.function_id == function_id).values(last_fire=fire_at)
        )
        if updated.rowcount == 0:
            conn.execute(schedules.insert().values(function_id=function_id, last_fire=fire_at))

    def get_call(self, call_id: str) -> CallRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(calls.select().where(calls.c.call_id == call_id)).mappings().first()
        return CallRow(**row) if row else None

    def update_call(self, call_id: str, *, num_inputs: int, inputs_complete: bool, cancelled: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                calls.update()
                .where(calls.c.call_id == call_id)
                .values(num_inputs=num_inputs, inputs_complete=inputs_complete, cancelled=cancelled)
            )

    def add_inputs(self, call_id: str, rows: list[InputRow], *, num_inputs: int, inputs_complete: bool) -> None:
        with self.engine.begin() as conn:
            if rows:
                conn.execute(_INSERT_INPUT, [{**vars(r), "finished": False} for r in rows])
            conn.execute(
                _COUNT_INPUTS, {"b_call_id": call_id, "num_inputs": num_inputs, "inputs_complete": inputs_complete}
            )

    def unfinished_inputs(self) -> list[InputRow]:
        query = (
            sa.select(
                inputs.c.input_id,
                inputs.c.call_id,
                inputs.c.function_id,
                inputs.c.idx,
                inputs.c.args,
                inputs.c.args_blob,
                inputs.c.attempt,
                inputs.c.method_name,
            )
            .join(functions, functions.c.function_id == inputs.c.function_id)
            .join(apps, apps.c.app_id == functions.c.app_id)
            .where(inputs.c.finished == sa.false(), apps.c.state != "stopped")
            .order_by(inputs.c.call_id, inputs.c.idx)
        )
        with self.engine.connect() as conn:
            return [InputRow(**row) for row in conn.execute(query).mappings()]

    def add_outputs(self, rows: list[OutputRow], attempts: list[AttemptRow] | None = None) -> None:
        if not rows and not attempts:
            return
        # Cursors are numbered here rather than read back from the database (RETURNING costs
        # more than the insert itself): this store is the only writer of its outputs table.
        with self._cursor_lock:
            for row in rows:
                self._last_cursor += 1
                row.cursor = self._last_cursor
        with self.engine.begin() as conn:
            if rows:
                conn.execute(_INSERT_OUTPUT, [vars(row) for row in rows])
            finished = [r.input_id for r in rows if r.final]
            if finished:
                conn.execute(_FINISH_INPUTS, {"ids": finished})
            if attempts:
                conn.execute(_SET_ATTEMPT, [{"b_input_id": a.input_id, "b_attempt": a.attempt} for a in attempts])

    def outputs_after(self, call_id: str, cursor: int, limit: int) -> list[OutputRow]:
        query = (
            outputs.select()
            .where(outputs.c.call_id == call_id, outputs.c.cursor > cursor)
            .order_by(outputs.c.cursor)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [OutputRow(**row) for row in conn.execute(query).mappings()]

    def count_final_outputs(self, call_id: str) -> int:
        query = sa.select(sa.func.count()).where(outputs.c.call_id == call_id, outputs.c.final == sa.true())
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def max_cursor(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(outputs.c.cursor))).scalar() or 0)

    def delete_calls_before(self, created_before: float) -> int:
        with self.engine.begin() as conn:
            old = sa.select(calls.c.call_id).where(calls.c.created_at < created_before).scalar_subquery()
            conn.execute(outputs.delete().where(outputs.c.call_id.in_(old)))
            conn.execute(inputs.delete().where(inputs.c.call_id.in_(old)))
            return conn.execute(calls.delete().where(calls.c.created_at < created_before)).rowcount

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ objects

    def create_object(self, row: ObjectRow) -> None:
        with self.engine.begin() as conn:
            conn.execute(objects.insert().values(**vars(row)))

    def get_object(self, object_id: str) -> ObjectRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(objects.select().where(objects.c.object_id == object_id)).mappings().first()
        return ObjectRow(**row) if row else None

    def find_object(self, kind: int, environment: str, name: str) -> ObjectRow | None:
        query = objects.select().where(
            objects.c.kind == kind, objects.c.environment == environment, objects.c.name == name
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return ObjectRow(**row) if row else None

    def list_objects(self, kind: int, environment: str | None) -> list[ObjectRow]:
        query = objects.select().where(objects.c.kind == kind, objects.c.name.is_not(None))
        if environment is not None:
            query = query.where(objects.c.environment == environment)
        with self.engine.connect() as conn:
            return [ObjectRow(**row) for row in conn.execute(query.order_by(objects.c.created_at)).mappings()]

    def ephemeral_objects(self) -> list[ObjectRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(objects.select().where(objects.c.ephemeral == sa.true())).mappings().all()
        return [ObjectRow(**row) for row in rows]

    def delete_object(self, object_id: str) -> list[str]:
        with self.engine.begin() as conn:
            blobs = conn.execute(
                sa.select(volume_files.c.blob_id).where(volume_files.c.volume_id == object_id).distinct()
            ).scalars()
            blob_ids = list(blobs)
            conn.execute(volume_files.delete().where(volume_files.c.volume_id == object_id))
            conn.execute(dict_entries.delete().where(dict_entries.c.dict_id == object_id))
            conn.execute(queue_items.delete().where(queue_items.c.queue_id == object_id))
            conn.execute(queue_partitions.delete().where(queue_partitions.c.queue_id == object_id))
            conn.execute(secret_values.delete().where(secret_values.c.secret_id == object_id))
            conn.execute(objects.delete().where(objects.c.object_id == object_id))
        return blob_ids

    # --- dicts

    def dict_get(self, dict_id: str, key_hash: str) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(_DICT_GET, {"b_dict_id": dict_id, "b_key_hash": key_hash}).scalar()
        return bytes(value) if value is not None else None

    def dict_put(self, dict_id: str, entries: list[tuple[str, bytes, bytes]], if_not_exists: bool) -> bool:
        created = False
        with self.engine.begin() as conn:
            for key_hash, key, value in entries:
                where = {"b_dict_id": dict_id, "b_key_hash": key_hash, "b_value": value}
                if if_not_exists:
                    if conn.execute(_DICT_HAS, where).first() is not None:
                        continue
                # An update keeps the key's place in the iteration order, as a Python dict does.
                elif conn.execute(_DICT_UPDATE, where).rowcount:
                    continue
                conn.execute(
                    dict_entries.insert(), {"dict_id": dict_id, "key_hash": key_hash, "key": key, "value": value}
                )
                created = True
        return created

    def dict_pop(self, dict_id: str, key_hash: str) -> bytes | None:
        where = {"b_dict_id": dict_id, "b_key_hash": key_hash}
        with self.engine.begin() as conn:
            value = conn.execute(_DICT_GET, where).scalar()
            if value is None:
                return None
            conn.execute(_DICT_DELETE, where)
        return bytes(value)

    def dict_len(self, dict_id: str) -> int:
        query = sa.select(sa.func.count()).where(dict_entries.c.dict_id == dict_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def dict_page(self, dict_id: str, after: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        query = (
            sa.select(dict_entries.c.entry_id, dict_entries.c.key, dict_entries.c.value)
            .where(dict_entries.c.dict_id == dict_id, dict_entries.c.entry_id > after)
            .order_by(dict_entries.c.entry_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(r[0]), bytes(r[1]), bytes(r[2])) for r in conn.execute(query)]

    def dict_clear(self, dict_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(dict_entries.delete().where(dict_entries.c.dict_id == dict_id))

    # --- queues

    def queue_put(self, queue_id: str, partition: str, values: list[bytes], expires_at: float) -> None:
        if not values:
            return
        where = {"b_queue_id": queue_id, "b_partition": partition, "b_expires_at": expires_at}
        with self.engine.begin() as conn:
            conn.execute(
                queue_items.insert(), [{"queue_id": queue_id, "partition": partition, "value": v} for v in values]
            )
            if not conn.execute(_QUEUE_TOUCH, where).rowcount:
                row = {"queue_id": queue_id, "partition": partition, "expires_at": expires_at}
                conn.execute(queue_partitions.insert(), row)

    def queue_expired(self, now: float) -> list[tuple[str, str]]:
        with self.engine.begin() as conn:
            due = [
                (str(r[0]), str(r[1]))
                for r in conn.execute(
                    sa.select(queue_partitions.c.queue_id, queue_partitions.c.partition).where(
                        queue_partitions.c.expires_at <= now
                    )
                )
            ]
            for queue_id, partition in due:
                conn.execute(
                    queue_items.delete().where(queue_items.c.queue_id == queue_id, queue_items.c.partition == partition)
                )
                conn.execute(
                    queue_partitions.delete().where(
                        queue_partitions.c.queue_id == queue_id, queue_partitions.c.partition == partition
                    )
                )
        return due

    def queue_take(self, queue_id: str, partition: str, n: int) -> list[bytes]:
        head = {"b_queue_id": queue_id, "b_partition": partition, "b_n": n}
        with self.engine.begin() as conn:
            rows = conn.execute(_QUEUE_HEAD, head).all()
            if rows:  # the head is contiguous in item order: one range delete takes it
                conn.execute(_QUEUE_DELETE_THROUGH, {**head, "b_last": rows[-1][0]})
        return [bytes(r[1]) for r in rows]

    def queue_peek(self, queue_id: str, partition: str, after_item_id: int, limit: int) -> list[tuple[int, bytes]]:
        query = (
            sa.select(queue_items.c.item_id, queue_items.c.value)
            .where(
                queue_items.c.queue_id == queue_id,
                queue_items.c.partition == partition,
                queue_items.c.item_id > after_item_id,
            )
            .order_by(queue_items.c.item_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(r[0]), bytes(r[1])) for r in conn.execute(query)]

    def queue_counts(self, queue_id: str) -> dict[str, int]:
        query = (
            sa.select(queue_items.c.partition, sa.func.count())
            .where(queue_items.c.queue_id == queue_id)
            .group_by(queue_items.c.partition)
        )
        with self.engine.connect() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(query)}

    def queue_clear(self, queue_id: str, partition: str | None) -> None:
        delete = queue_items.delete().where(queue_items.c.queue_id == queue_id)
        forget = queue_partitions.delete().where(queue_partitions.c.queue_id == queue_id)
        if partition is not None:
            delete = delete.where(queue_items.c.partition == partition)
            forget = forget.where(queue_partitions.c.partition == partition)
        with self.engine.begin() as conn:
            conn.execute(delete)
            conn.execute(forget)

    # --- secrets

    def secret_set(self, secret_id: str, ciphertext: bytes, updated_at: float) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(
                secret_values.update()
                .where(secret_values.c.secret_id == secret_id)
                .values(ciphertext=ciphertext, updated_at=updated_at)
            ).rowcount
            if not updated:
                conn.execute(
                    secret_values.insert().values(secret_id=secret_id, ciphertext=ciphertext, updated_at=updated_at)
                )
            conn.execute(objects.update().where(objects.c.object_id == secret_id).values(updated_at=updated_at))

    def secret_get(self, secret_id: str) -> bytes | None:
        query = sa.select(secret_values.c.ciphertext).where(secret_values.c.secret_id == secret_id)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar()
        return bytes(value) if value is not None else None

    # --- volumes

    def volume_manifest(self, volume_id: str) -> tuple[int, list[VolumeFileRow]]:
        with self.engine.connect() as conn:
            version = conn.execute(sa.select(objects.c.version).where(objects.c.object_id == volume_id)).scalar()
            rows = conn.execute(
                sa.select(
                    volume_files.c.path,
                    volume_files.c.blob_id,
                    volume_files.c.size,
                    volume_files.c.mode,
                    volume_files.c.mtime,
                )
                .where(volume_files.c.volume_id == volume_id)
                .order_by(volume_files.c.path)
            ).mappings()
            files = [VolumeFileRow(**row) for row in rows]
        return int(version or 0), files

    def volume_apply(self, volume_id: str, puts: list[VolumeFileRow], deletes: list[str]) -> tuple[int, list[str]]:
        touched = list(dict.fromkeys([f.path for f in puts] + deletes))
        new_blobs = {f.blob_id for f in puts}
        released: set[str] = set()
        with self.engine.begin() as conn:
            for paths in _chunks(touched):
                where = (volume_files.c.volume_id == volume_id, volume_files.c.path.in_(paths))
                released.update(conn.execute(sa.select(volume_files.c.blob_id).where(*where)).scalars())
                conn.execute(volume_files.delete().where(*where))
            if puts:
                conn.execute(volume_files.insert(), [{"volume_id": volume_id, **vars(f)} for f in puts])
            conn.execute(
                objects.update()
                .where(objects.c.object_id == volume_id)
                .values(version=objects.c.version + 1, updated_at=time.time())
            )
            version = conn.execute(sa.select(objects.c.version).where(objects.c.object_id == volume_id)).scalar_one()
        return int(version), sorted(released - new_blobs)

    def referenced_blobs(self, blob_ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(blob_ids):
                query = sa.select(volume_files.c.blob_id).where(volume_files.c.blob_id.in_(chunk)).distinct()
                found.update(conn.execute(query).scalars())
        return found
