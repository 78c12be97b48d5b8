"""The Store on SQLAlchemy Core: a SQLite file by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .store import AppRow, CallRow, DeploymentRow, FunctionRow, InputRow, LogRow, OutputRow, Store

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


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + NORMAL: durable across a crash of this process, one fsync per checkpoint.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class SqlStore(Store):
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _tune_sqlite)
        metadata.create_all(self.engine)

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

    def create_call(self, call: CallRow, rows: list[InputRow]) -> None:
        with self.engine.begin() as conn:
            conn.execute(calls.insert().values(**vars(call)))
            if rows:
                conn.execute(inputs.insert(), [{**vars(r), "finished": False} for r in rows])

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
                conn.execute(inputs.insert(), [{**vars(r), "finished": False} for r in rows])
            conn.execute(
                calls.update()
                .where(calls.c.call_id == call_id)
                .values(num_inputs=num_inputs, inputs_complete=inputs_complete)
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
            )
            .join(functions, functions.c.function_id == inputs.c.function_id)
            .join(apps, apps.c.app_id == functions.c.app_id)
            .where(inputs.c.finished == sa.false(), apps.c.state != "stopped")
            .order_by(inputs.c.call_id, inputs.c.idx)
        )
        with self.engine.connect() as conn:
            return [InputRow(**row) for row in conn.execute(query).mappings()]

    def add_outputs(self, rows: list[OutputRow]) -> None:
        if not rows:
            return
        with self.engine.begin() as conn:
            values = [{k: v for k, v in vars(row).items() if k != "cursor"} for row in rows]
            if len(rows) == 1:  # the common case of .remote(): skip the RETURNING machinery
                rows[0].cursor = int(conn.execute(outputs.insert(), values[0]).inserted_primary_key[0])  # type: ignore[index]
            else:
                insert = outputs.insert().returning(outputs.c.cursor, sort_by_parameter_order=True)
                for row, cursor in zip(rows, conn.execute(insert, values).scalars(), strict=True):
                    row.cursor = int(cursor)
            finished = [{"b_input_id": r.input_id} for r in rows if r.final]
            if finished:
                conn.execute(
                    inputs.update()
                    .where(inputs.c.input_id == sa.bindparam("b_input_id"))
                    .values(finished=True, args=b""),
                    finished,
                )

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
