"""The Store's reads for Function.stats, metrics and call graphs (a mixin of SqlStore).

Counts, sums and maxima are computed by the database (one grouped scan of the window's
outputs), never by reading each output into the server: a busy function's window holds
millions, and these reads run on the server's event loop.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .sql_schema import calls, container_runs, inputs, outputs
from .store import CallRow, ContainerRunRow, GraphInput, OutputBucket


class _floor(FunctionElement[Any]):
    """floor(x) for x >= 0; SQLite builds without math functions have no floor(), and its CAST truncates."""

    type = sa.Float()
    inherit_cache = True


@compiles(_floor)
def _floor_sql(element: _floor, compiler: Any, **kw: Any) -> str:
    return f"floor({compiler.process(element.clauses, **kw)})"


@compiles(_floor, "sqlite")
def _floor_sqlite(element: _floor, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


class SqlStats:
    engine: sa.Engine

    @staticmethod
    def _window(function_ids: list[str], since: float, until: float, container_id: str) -> list[sa.ColumnElement[bool]]:
        where = [
            calls.c.function_id.in_(function_ids),
            outputs.c.final == sa.true(),
            outputs.c.finished_at >= since,
            outputs.c.finished_at < until,
        ]
        if container_id:
            where.append(outputs.c.container_id == container_id)
        return where

    def output_buckets(
        self, function_ids: list[str], since: float, until: float, width: float, container_id: str = ""
    ) -> list[OutputBucket]:
        bucket = _floor((outputs.c.finished_at - since) / width) if width else sa.literal(0)
        run = sa.case((outputs.c.run_seconds > 0, outputs.c.run_seconds))  # NULL (left out) when unknown
        latency = sa.case((outputs.c.queued_at > 0, outputs.c.finished_at - outputs.c.queued_at))
        query = (
            sa.select(
                bucket.label("bucket"),
                outputs.c.status,
                sa.func.count().label("count"),
                sa.func.coalesce(sa.func.sum(run), 0).label("run_sum"),
                sa.func.count(run).label("run_count"),
                sa.func.coalesce(sa.func.max(run), 0).label("run_max"),
                sa.func.coalesce(sa.func.sum(latency), 0).label("latency_sum"),
                sa.func.count(latency).label("latency_count"),
                sa.func.coalesce(sa.func.max(latency), 0).label("latency_max"),
            )
            .join(calls, calls.c.call_id == outputs.c.call_id)
            .where(*self._window(function_ids, since, until, container_id))
            .group_by(sa.literal_column("bucket"), outputs.c.status)
        )
        with self.engine.connect() as conn:
            return [OutputBucket(int(r.bucket), *(r[1:])) for r in conn.execute(query)]

    def output_sample(
        self, function_ids: list[str], since: float, until: float, limit: int, container_id: str = ""
    ) -> list[tuple[float, float]]:
        latency = sa.case((outputs.c.queued_at > 0, outputs.c.finished_at - outputs.c.queued_at), else_=0.0)
        query = (
            sa.select(outputs.c.run_seconds, latency)
            .join(calls, calls.c.call_id == outputs.c.call_id)
            .where(*self._window(function_ids, since, until, container_id))
            .order_by(outputs.c.finished_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(float(run), float(lat)) for run, lat in conn.execute(query)]

    def container_runs(self, function_ids: list[str], since: float, until: float) -> list[ContainerRunRow]:
        query = container_runs.select().where(
            container_runs.c.function_id.in_(function_ids),
            container_runs.c.exited_at >= since,
            container_runs.c.exited_at < until,
        )
        with self.engine.connect() as conn:
            return [ContainerRunRow(**row) for row in conn.execute(query).mappings()]

    def call_of_input(self, input_id: str) -> CallRow | None:
        query = calls.select().join(inputs, inputs.c.call_id == calls.c.call_id).where(inputs.c.input_id == input_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return CallRow(**row) if row else None

    def calls_with_parents(self, parent_input_ids: list[str]) -> list[CallRow]:
        query = calls.select().where(calls.c.parent_input_id.in_(parent_input_ids))
        with self.engine.connect() as conn:
            return [CallRow(**row) for row in conn.execute(query).mappings()]

    def graph_inputs(self, call_ids: list[str], limit: int) -> list[GraphInput]:
        final = (
            sa.select(outputs.c.input_id, outputs.c.status, outputs.c.container_id)
            .where(outputs.c.call_id.in_(call_ids), outputs.c.final == sa.true())
            .subquery()
        )
        query = (
            sa.select(
                inputs.c.input_id,
                inputs.c.call_id,
                sa.func.coalesce(final.c.status, 0).label("status"),
                sa.func.coalesce(final.c.container_id, "").label("container_id"),
            )
            .outerjoin(final, final.c.input_id == inputs.c.input_id)
            .where(inputs.c.call_id.in_(call_ids))
            .order_by(inputs.c.call_id, inputs.c.idx)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [GraphInput(**row) for row in conn.execute(query).mappings()]
