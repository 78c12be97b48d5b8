"""App tags in the store: migration 0004 on SQLite and PostgreSQL (tests/test_app_tags.py has the API)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from nano_modal.server import migrations
from nano_modal.server.sql_store import SqlStore


def test_apps_from_before_tags_have_none(db_url: str) -> None:
    """Migration 0004 on a database with an app row: the row gets empty tags and takes new ones."""
    engine = sa.create_engine(db_url)
    migrations.upgrade(engine, target="0003")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO apps (app_id, name, state, ephemeral, created_at, version, workspace) "
                "VALUES ('ap-old', 'old', 'deployed', false, 1, 1, 'main')"
            )
        )
    migrations.upgrade(engine)
    store = SqlStore(db_url)
    try:
        row: Any = store.get_app("ap-old")
        assert row.tags == {}
        store.set_app_tags("ap-old", {"team": "ml"})
        assert store.get_app("ap-old").tags == {"team": "ml"}  # type: ignore[union-attr]
    finally:
        store.close()
        engine.dispose()
