"""Schema migrations: old databases are stamped and upgraded, data survives, models match revisions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from nano_modal.server import migrations
from nano_modal.server.sql_schema import apps, metadata
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.store import AppRow

SECOND = '''
"""A test-only revision: a column with a default on a table that already holds rows."""

import sqlalchemy as sa
from alembic import op

revision = "0002test"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("note", sa.String(32), nullable=False, server_default="migrated"))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("note")
'''


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return migrations.current_revision(conn)


def test_database_from_before_migrations_is_stamped(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    # What the server made before migrations existed: the baseline's tables, no version table.
    migrations.upgrade(engine, target=migrations.BASELINE)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(apps.insert().values(app_id="ap-old", name="old", state="deployed", ephemeral=False, created_at=1))
    assert _revision(engine) is None
    store = SqlStore(db_url)
    try:
        assert _revision(store.engine) == migrations.head()
        row = store.get_app("ap-old")
        assert row is not None and row.name == "old"
    finally:
        store.close()
        engine.dispose()


def test_upgrade_keeps_rows(db_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(db_url)
    migrations.upgrade(engine, target=migrations.BASELINE)
    assert _revision(engine) == migrations.BASELINE
    with engine.begin() as conn:
        conn.execute(apps.insert().values(app_id="ap-1", name="kept", state="running", ephemeral=True, created_at=2))
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0002_test.py").write_text(textwrap.dedent(SECOND.format(down=migrations.head())))
    migrations.upgrade(engine, extra_versions=[versions])
    try:
        assert _revision(engine) == "0002test"
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT app_id, name, ephemeral, note FROM apps")).all()
        assert [(r[0], r[1], bool(r[2]), r[3]) for r in rows] == [("ap-1", "kept", True, "migrated")]
    finally:
        engine.dispose()


def test_models_match_the_revisions(db_url: str) -> None:
    """A schema change in sql_store.py needs a revision: run
    `python -m nano_modal.server.migrations revision "what changes"` and review the file it writes."""
    engine = sa.create_engine(db_url)
    migrations.upgrade(engine)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"the models differ from the migrated schema; write a revision: {diff}"
    finally:
        engine.dispose()


def test_store_starts_on_a_migrated_database_and_serves(db_url: str) -> None:
    first = SqlStore(db_url)
    first.create_app(AppRow("ap-2", "fresh", "running", True, time.time()))
    first.close()
    second = SqlStore(db_url)  # a second start finds nothing to do
    try:
        assert second.get_app("ap-2") is not None
    finally:
        second.close()


def test_the_newest_revision_read_from_the_files_is_alembics_head() -> None:
    assert migrations.newest_revision() == migrations.head()


START = """
import sys
from nano_modal.server.sql_store import SqlStore
SqlStore(sys.argv[1]).close()
print("alembic loaded" if "alembic" in sys.modules else "alembic not loaded")
"""


def test_a_new_database_is_made_from_the_models_without_alembic_and_upgrades_later(db_url: str, tmp_path: Path) -> None:
    """A server's start on a new or current database does not load Alembic (~0.1 s), and the
    database it made is one Alembic upgrades like any other."""
    for _ in range(2):  # new, then current
        started = subprocess.run([sys.executable, "-c", START, db_url], capture_output=True, text=True, check=False)
        assert started.stdout.strip() == "alembic not loaded", started.stdout + started.stderr
    engine = sa.create_engine(db_url)
    try:
        assert _revision(engine) == migrations.head()
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        versions = tmp_path / "versions"
        versions.mkdir()
        (versions / "0002_test.py").write_text(textwrap.dedent(SECOND.format(down=migrations.head())))
        migrations.upgrade(engine, extra_versions=[versions])
        assert _revision(engine) == "0002test"
    finally:
        engine.dispose()
