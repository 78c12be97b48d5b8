"""A workspace's limits: containers, CPU and memory its live containers may hold (0: none)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_containers", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("max_cpu", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("max_memory_mb", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("max_memory_mb")
        batch_op.drop_column("max_cpu")
        batch_op.drop_column("max_containers")
