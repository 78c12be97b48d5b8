"""Proxy tokens belong to a workspace and open only its web endpoints (existing ones: main's)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proxy_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sa.String(length=64), nullable=False, server_default="main"))


def downgrade() -> None:
    with op.batch_alter_table("proxy_tokens", schema=None) as batch_op:
        batch_op.drop_column("workspace")
