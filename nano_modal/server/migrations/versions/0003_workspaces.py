"""Workspaces: apps and objects belong to one (existing rows to "main"); workspace tokens."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("invoke_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=64), nullable=False, server_default="main"))
    # Names are unique per workspace now: the old constraint goes, a wider one replaces it.
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=64), nullable=False, server_default="main"))
        batch_op.drop_constraint("uq_objects_name", type_="unique")
        batch_op.create_unique_constraint("uq_objects_ws_name", ["kind", "workspace", "environment", "name"])


def downgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.drop_constraint("uq_objects_ws_name", type_="unique")
        batch_op.create_unique_constraint("uq_objects_name", ["kind", "environment", "name"])
        batch_op.drop_column("workspace")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("workspace")
    op.drop_table("tokens")
    op.drop_table("workspaces")
