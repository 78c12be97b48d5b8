"""The Store's reads for Function.stats, metrics and call graphs (a mixin of SqlStore)."""

from __future__ import annotations

import sqlalchemy as sa

from .sql_schema import calls, container_runs, inputs, outputs
from .store import CallRow, ContainerRunRow, GraphInput, OutputTiming


class SqlStats:
    engine: sa.Engine

    def output_timings(self, function_ids: list[str], since: float, until: float, limit: int) -> list[OutputTiming]:
        query = (
            sa.select(
                calls.c.function_id,
                outputs.c.status,
                outputs.c.queued_at,
                outputs.c.finished_at,
                outputs.c.run_seconds,
                outputs.c.container_id,
            )
            .join(calls, calls.c.call_id == outputs.c.call_id)
            .where(
                calls.c.function_id.in_(function_ids),
                outputs.c.final == sa.true(),
                outputs.c.finished_at >= since,
                outputs.c.finished_at < until,
            )
            .order_by(outputs.c.finished_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [OutputTiming(**row) for row in conn.execute(query).mappings()]

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
