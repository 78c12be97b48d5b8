"""Baseline: the schema as it was when migrations were introduced.

Frozen on purpose: later schema changes go in later revisions, never here. A database
created before migrations existed (no alembic_version table) is stamped at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ephemeral", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("app_id"),
    )
    op.create_index("ix_apps_name_state", "apps", ["name", "state"], unique=False)
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("function_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("num_inputs", sa.Integer(), nullable=False),
        sa.Column("inputs_complete", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("call_id"),
    )
    op.create_index(op.f("ix_calls_created_at"), "calls", ["created_at"], unique=False)
    op.create_index(op.f("ix_calls_function_id"), "calls", ["function_id"], unique=False)
    op.create_table(
        "deployments",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("spec", sa.LargeBinary(), nullable=False),
        sa.Column("rollback_of", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "version"),
    )
    op.create_table(
        "dict_entries",
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("dict_id", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
        sa.UniqueConstraint("dict_id", "key_hash", name="uq_dict_entries_key"),
    )
    op.create_table(
        "inputs",
        sa.Column("input_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("function_id", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("args", sa.LargeBinary(), nullable=False),
        sa.Column("args_blob", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("method_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("input_id"),
    )
    op.create_index(op.f("ix_inputs_call_id"), "inputs", ["call_id"], unique=False)
    op.create_index(op.f("ix_inputs_finished"), "inputs", ["finished"], unique=False)
    op.create_table(
        "logs",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("function_name", sa.String(length=255), nullable=False),
        sa.Column("container_id", sa.String(length=64), nullable=False),
        sa.Column("fd", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_logs_app_seq", "logs", ["app_id", "seq"], unique=False)
    op.create_index(op.f("ix_logs_timestamp"), "logs", ["timestamp"], unique=False)
    op.create_table(
        "objects",
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("ephemeral", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("object_id"),
        sa.UniqueConstraint("kind", "environment", "name", name="uq_objects_name"),
    )
    op.create_table(
        "outputs",
        sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("input_id", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("data_blob", sa.String(length=64), nullable=False),
        sa.Column("exception_repr", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("cursor"),
    )
    op.create_index("ix_outputs_call_cursor", "outputs", ["call_id", "cursor"], unique=False)
    op.create_table(
        "proxy_tokens",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "queue_items",
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("queue_id", sa.String(length=64), nullable=False),
        sa.Column("partition", sa.String(length=255), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index("ix_queue_items_head", "queue_items", ["queue_id", "partition", "item_id"], unique=False)
    op.create_table(
        "schedules",
        sa.Column("function_id", sa.String(length=64), nullable=False),
        sa.Column("last_fire", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("function_id"),
    )
    op.create_table(
        "secrets",
        sa.Column("secret_id", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("secret_id"),
    )
    op.create_table(
        "volume_files",
        sa.Column("volume_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.Column("mtime", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("volume_id", "path"),
    )
    op.create_index(op.f("ix_volume_files_blob_id"), "volume_files", ["blob_id"], unique=False)
    op.create_table(
        "functions",
        sa.Column("function_id", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("definition", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.app_id"],
        ),
        sa.PrimaryKeyConstraint("function_id"),
    )
    op.create_index(op.f("ix_functions_app_id"), "functions", ["app_id"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the baseline cannot be downgraded: drop the database instead")
