"""Fixtures for the control plane's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.server.sql_store import SqlStore
from tests import pg


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A fresh store on each implementation: a SQLite file, and a real PostgreSQL server."""
    if request.param == "sqlite":
        store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
        yield store
        store.close()
        return
    if not pg.available():
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs it (apt-get install postgresql)")
    with pg.postgres_server() as url:
        store = SqlStore(url)
        yield store
        store.close()
