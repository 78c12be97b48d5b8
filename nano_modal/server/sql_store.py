"""The Store on SQLAlchemy Core: a SQLite file by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from . import migrations
from .sql_driver import DriverWrites, Statement, postgres_writes, sqlite_writes
from .sql_objects import SqlObjects
from .sql_schema import (
    apps,
    calls,
    container_runs,
    deployments,
    functions,
    image_names,
    inputs,
    logs,
    metadata,
    outputs,
    proxy_tokens,
    schedules,
    tokens,
    workspaces,
)
from .sql_stats import SqlStats
from .store import (
    AppRow,
    AttemptRow,
    CallRow,
    ContainerRunRow,
    DeploymentRow,
    FunctionRow,
    InputRow,
    LogRow,
    OutputRow,
    ProxyTokenRow,
    Store,
)
from .store_retry import retry_transient
from .wal_checkpoint import BOUNDED_AUTOCHECKPOINT, WalCheckpointer
from .workspace_limits import Limits

_REFERENCE_BATCH = 1000  # rows per fetch of blob_references: a scan of millions holds a batch at a time

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


# psycopg prepares a statement on the server after its 5th run, and PostgreSQL then keeps one
# generic plan for it: planned while the tables were small (a fresh store, the first map), it
# stays a sequential scan as they grow, and nothing re-plans it until an ANALYZE, which
# autovacuum runs a minute or more later. _FINISH_INPUTS so scanned all of `inputs` per batch of
# finished inputs (`.map` throughput fell round after round: issue 17, docs/BENCHMARKS.md).
# A custom plan per run costs ~0.1 ms and always sees the table's current size. Set on each new
# session (a SET, not the URL's `options`, which a deployment may use for its own settings).
_POSTGRES_PLANS = "SET plan_cache_mode = force_custom_plan"


def _plan_for_values(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute(_POSTGRES_PLANS)
    dbapi_connection.commit()  # a session setting, kept past this (otherwise open) transaction


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + NORMAL: durable across a crash of this process, one fsync per checkpoint.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute(BOUNDED_AUTOCHECKPOINT)  # checkpoints run on a thread of their own (wal_checkpoint.py)
    cursor.close()


# An input as InputRow holds it (recovery reads these).
_INPUT_ROW_COLUMNS = (
    inputs.c.input_id,
    inputs.c.call_id,
    inputs.c.function_id,
    inputs.c.idx,
    inputs.c.args,
    inputs.c.args_blob,
    inputs.c.attempt,
    inputs.c.method_name,
)


@retry_transient
class SqlStore(SqlObjects, SqlStats, Store):
    def __init__(self, url: str) -> None:
        if url.startswith(("postgresql://", "postgres://")):  # plain URLs mean the driver we ship with
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.engine = sa.create_engine(url, pool_pre_ping=not url.startswith("sqlite"))  # survive a DB restart
        # The hot writes straight on the driver, for the two databases we ship with (sql_driver.py).
        self._driver: DriverWrites | None = None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _tune_sqlite)
            self.local_commits = True
            self._driver = sqlite_writes()
        elif self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", _plan_for_values)
            if self.engine.dialect.driver == "psycopg":
                self._driver = postgres_writes()
        migrations.upgrade(self.engine, new_from=metadata)
        # Tables of the models that no revision creates yet (a branch in progress); a no-op once
        # versions/ covers them, which tests/server/test_migrations.py checks.
        metadata.create_all(self.engine)
        self._cursor_lock = threading.Lock()
        self._last_cursor = self.max_cursor()
        database = self.engine.url.database or ":memory:"
        on_disk = self.engine.dialect.name == "sqlite" and database != ":memory:"
        self._checkpointer = WalCheckpointer(database) if on_disk else None

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

    def set_app_tags(self, app_id: str, tags: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(apps.update().where(apps.c.app_id == app_id).values(tags=dict(tags)))

    def publish_image(self, workspace: str, tag: str, spec: bytes) -> None:
        key = (image_names.c.workspace == workspace) & (image_names.c.tag == tag)
        with self.engine.begin() as conn:  # a tag names the latest definition published under it
            conn.execute(image_names.delete().where(key))
            conn.execute(image_names.insert().values(workspace=workspace, tag=tag, spec=spec, created_at=time.time()))

    def image_by_tag(self, workspace: str, tag: str) -> bytes | None:
        query = sa.select(image_names.c.spec).where(image_names.c.workspace == workspace, image_names.c.tag == tag)
        with self.engine.connect() as conn:
            spec = conn.execute(query).scalar()
        return bytes(spec) if spec is not None else None

    def running_apps(self) -> list[AppRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(apps.select().where(apps.c.state != "stopped")).mappings().all()
        return [AppRow(**row) for row in rows]

    def list_apps(self, workspace: str, *, live_only: bool = False) -> list[AppRow]:
        query = apps.select().where(apps.c.workspace == workspace).order_by(apps.c.created_at)
        if live_only:
            query = query.where(apps.c.state != "stopped")
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [AppRow(**row) for row in rows]

    def find_deployed_app(self, name: str, workspace: str) -> AppRow | None:
        query = apps.select().where(apps.c.name == name, apps.c.state == "deployed", apps.c.workspace == workspace)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return AppRow(**row) if row else None

    def create_workspace(self, name: str) -> bool:
        with self.engine.begin() as conn:
            if conn.execute(sa.select(workspaces.c.name).where(workspaces.c.name == name)).first():
                return False
            conn.execute(workspaces.insert().values(name=name, created_at=time.time()))
        return True

    def list_workspaces(self) -> list[tuple[str, float]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(workspaces.c.name, workspaces.c.created_at).order_by(workspaces.c.name))
            return [(str(name), float(created)) for name, created in rows]

    def set_workspace_limits(self, name: str, limits: Limits) -> None:
        values = {"max_containers": limits.max_containers, "max_cpu": limits.max_cpu}
        values["max_memory_mb"] = limits.max_memory_mb
        with self.engine.begin() as conn:
            updated = conn.execute(workspaces.update().where(workspaces.c.name == name).values(**values))
            if not updated.rowcount:  # the default workspace has a row only once it has limits
                conn.execute(workspaces.insert().values(name=name, created_at=time.time(), **values))

    def workspace_limits(self) -> dict[str, Limits]:
        columns = (workspaces.c.name, workspaces.c.max_containers, workspaces.c.max_cpu, workspaces.c.max_memory_mb)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*columns))
            return {str(name): Limits(int(n), float(cpu), int(mem)) for name, n, cpu, mem in rows}

    def add_token(self, token_hash: str, workspace: str, invoke_only: bool) -> None:
        row = {"token_hash": token_hash, "workspace": workspace, "invoke_only": invoke_only, "created_at": time.time()}
        with self.engine.begin() as conn:
            conn.execute(tokens.insert().values(**row))

    def list_tokens(self) -> list[tuple[str, str, bool]]:
        query = sa.select(tokens.c.token_hash, tokens.c.workspace, tokens.c.invoke_only)
        with self.engine.connect() as conn:
            return [(str(h), str(ws), bool(inv)) for h, ws, inv in conn.execute(query)]

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
        if self._driver is not None and schedule_fire is None:
            self._driver_transaction(self._driver.create_call(call, rows))
            return
        with self.engine.begin() as conn:
            conn.execute(_INSERT_CALL, vars(call))
            if rows:
                conn.execute(_INSERT_INPUT, [{**vars(r), "finished": False} for r in rows])
            if schedule_fire is not None:
                self._set_last_fire(conn, call.function_id, schedule_fire)

    def create_proxy_token(self, key: str, secret_hash: str, workspace: str) -> None:
        row = {"key": key, "secret_hash": secret_hash, "created_at": time.time(), "workspace": workspace}
        with self.engine.begin() as conn:
            conn.execute(proxy_tokens.insert().values(**row))

    def proxy_token(self, key: str) -> ProxyTokenRow | None:
        query = sa.select(proxy_tokens.c.secret_hash, proxy_tokens.c.workspace).where(proxy_tokens.c.key == key)
        with self.engine.connect() as conn:
            found = conn.execute(query).first()
        return ProxyTokenRow(str(found.secret_hash), str(found.workspace)) if found is not None else None

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
        if self._driver is not None:
            self._driver_transaction(self._driver.add_inputs(call_id, rows, num_inputs, inputs_complete))
            return
        with self.engine.begin() as conn:
            if rows:
                conn.execute(_INSERT_INPUT, [{**vars(r), "finished": False} for r in rows])
            conn.execute(
                _COUNT_INPUTS, {"b_call_id": call_id, "num_inputs": num_inputs, "inputs_complete": inputs_complete}
            )

    def unfinished_inputs(self) -> list[InputRow]:
        """Inputs to queue again at recovery: not finished, their app not stopped."""
        query = (
            sa.select(*_INPUT_ROW_COLUMNS)
            .join(functions, functions.c.function_id == inputs.c.function_id)
            .join(apps, apps.c.app_id == functions.c.app_id)
            .where(inputs.c.finished == sa.false(), apps.c.state != "stopped")
            .order_by(inputs.c.call_id, inputs.c.idx)
        )
        with self.engine.connect() as conn:
            return [InputRow(**row) for row in conn.execute(query).mappings()]

    def abandoned_inputs(self) -> list[InputRow]:
        """Inputs a crash left without their CANCELLED output: not finished, of a cancelled call
        or a stopped app."""
        query = (
            sa.select(*_INPUT_ROW_COLUMNS)
            .join(calls, calls.c.call_id == inputs.c.call_id)
            .join(functions, functions.c.function_id == inputs.c.function_id)
            .join(apps, apps.c.app_id == functions.c.app_id)
            .where(inputs.c.finished == sa.false(), sa.or_(apps.c.state == "stopped", calls.c.cancelled == sa.true()))
            .order_by(inputs.c.call_id, inputs.c.idx)
        )
        with self.engine.connect() as conn:
            return [InputRow(**row) for row in conn.execute(query).mappings()]

    def add_outputs(
        self,
        rows: list[OutputRow],
        attempts: list[AttemptRow] | None = None,
        runs: list[ContainerRunRow] | None = None,
    ) -> None:
        if not rows and not attempts and not runs:
            return
        # Cursors are numbered here rather than read back from the database (RETURNING costs
        # more than the insert itself): this store is the only writer of its outputs table.
        with self._cursor_lock:
            for row in rows:
                self._last_cursor += 1
                row.cursor = self._last_cursor
        if self._driver is not None and not attempts and not runs:  # (retries, containers' ends: rare)
            self._driver_transaction(self._driver.add_outputs(rows))
            return
        with self.engine.begin() as conn:
            if rows:
                conn.execute(_INSERT_OUTPUT, [vars(row) for row in rows])
            finished = [r.input_id for r in rows if r.final]
            if finished:
                conn.execute(_FINISH_INPUTS, {"ids": finished})
            if attempts:
                conn.execute(_SET_ATTEMPT, [{"b_input_id": a.input_id, "b_attempt": a.attempt} for a in attempts])
            if runs:
                conn.execute(container_runs.insert(), [vars(run) for run in runs])

    def _driver_transaction(self, statements: list[Statement]) -> None:
        """One transaction of statements, each run for its list of parameters, on the DBAPI
        connection; its errors, the pool's connecting included (raw_connection raises the
        driver's own), raised as SQLAlchemy's, which store_retry.py tells apart."""
        dialect = self.engine.dialect
        raw = cursor = None
        statement = ""
        try:
            raw = self.engine.raw_connection()
            cursor = raw.cursor()
            for statement, params in statements:
                if len(params) == 1:
                    cursor.execute(statement, params[0])
                elif params:
                    cursor.executemany(statement, params)
            raw.commit()
        except dialect.loaded_dbapi.Error as exc:
            lost = raw is None or dialect.is_disconnect(exc, raw.dbapi_connection, cursor)
            if raw is not None and lost:  # not back into the pool: the next checkout connects again
                raw.invalidate(exc)
            raise sa.exc.DBAPIError.instance(
                statement, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
            ) from exc
        finally:
            if raw is not None:
                raw.close()  # back to the pool, which rolls back what was not committed

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
            conn.execute(container_runs.delete().where(container_runs.c.exited_at < created_before))
            return conn.execute(calls.delete().where(calls.c.created_at < created_before)).rowcount

    def blob_references(self) -> Iterator[tuple[str, bytes]]:
        """Every stored value that may name a blob, with what kind of value it is (blob_gc.py
        reads the names out): payloads and blob columns of the inputs and outputs kept, the
        definitions of functions of apps not stopped, every deployment's spec (a rollback runs
        an old version's code again) and every published image. Read in batches, never all at once."""
        live_apps = sa.select(apps.c.app_id).where(apps.c.state != "stopped").scalar_subquery()
        sources: list[tuple[str, sa.Select[Any]]] = [
            ("blob_id", sa.select(inputs.c.args_blob).where(inputs.c.args_blob != "")),
            ("blob_id", sa.select(outputs.c.data_blob).where(outputs.c.data_blob != "")),
            ("payload", sa.select(inputs.c.args)),
            ("payload", sa.select(outputs.c.data)),
            ("definition", sa.select(functions.c.definition).where(functions.c.app_id.in_(live_apps))),
            ("definition", sa.select(deployments.c.spec)),
            ("definition", sa.select(image_names.c.spec)),  # Image.publish: its add_local files
        ]
        with self.engine.connect() as conn:
            for kind, query in sources:
                for value in conn.execution_options(yield_per=_REFERENCE_BATCH).execute(query).scalars():
                    yield kind, value.encode() if isinstance(value, str) else bytes(value)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
