"""Queue partitions expire (partition_ttl): one row per partition with its expiry time."""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

DEFAULT_TTL = 24 * 3600.0  # partitions that already hold items get Modal's default from now


def upgrade() -> None:
    op.create_table(
        "queue_partitions",
        sa.Column("queue_id", sa.String(length=64), nullable=False),
        sa.Column("partition", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("queue_id", "partition"),
    )
    with op.batch_alter_table("queue_partitions", schema=None) as batch_op:
        batch_op.create_index("ix_queue_partitions_expires_at", ["expires_at"], unique=False)
    op.execute(
        sa.text(
            "INSERT INTO queue_partitions (queue_id, partition, expires_at) "
            "SELECT DISTINCT queue_id, partition, :expires_at FROM queue_items"
        ).bindparams(expires_at=time.time() + DEFAULT_TTL)
    )


def downgrade() -> None:
    with op.batch_alter_table("queue_partitions", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_partitions_expires_at")
    op.drop_table("queue_partitions")
