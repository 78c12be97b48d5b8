"""Function.stats, metrics and call graphs: when each output arrived, how long its input ran and
in which container; which input made each call; containers that exited."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("parent_input_id", sa.String(length=64), nullable=False, server_default=""))
        batch.create_index("ix_calls_parent_input_id", ["parent_input_id"])
    with op.batch_alter_table("outputs") as batch:
        batch.add_column(sa.Column("queued_at", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("finished_at", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("run_seconds", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("container_id", sa.String(length=64), nullable=False, server_default=""))
        batch.create_index("ix_outputs_finished_at", ["finished_at"])
    op.create_table(
        "container_runs",
        sa.Column("container_id", sa.String(length=64), nullable=False),
        sa.Column("function_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("ready_at", sa.Float(), nullable=False),
        sa.Column("exited_at", sa.Float(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("container_id"),
    )
    op.create_index("ix_container_runs_function_id", "container_runs", ["function_id"])
    op.create_index("ix_container_runs_exited_at", "container_runs", ["exited_at"])


def downgrade() -> None:
    op.drop_table("container_runs")
    with op.batch_alter_table("outputs") as batch:
        batch.drop_index("ix_outputs_finished_at")
        for column in ("container_id", "run_seconds", "finished_at", "queued_at"):
            batch.drop_column(column)
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_parent_input_id")
        batch.drop_column("parent_input_id")
