"""Alembic's environment: always run on a connection handed over by `migrations.upgrade`."""

from __future__ import annotations

from alembic import context

from nano_modal.server.sql_schema import metadata

connection = context.config.attributes["connection"]
# SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
