"""Fixtures for the control plane's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane
from nano_modal.server.sql_store import SqlStore
from tests import pg


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file, and a real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if not pg.available():
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs it (apt-get install postgresql)")
    with pg.postgres_server() as url:
        yield url


@pytest.fixture
def any_store(db_url: str) -> Iterator[SqlStore]:
    """A fresh store on each implementation."""
    store = SqlStore(db_url)
    yield store
    store.close()


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    """A control plane on a SQLite file with one worker (2 cpu, 4 GiB), driven in-process."""
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    control.register_worker(api_pb2.WorkerRegisterRequest(worker_id="wk-1", hostname="h", cpu=2, memory_mb=4096))
    yield control
    store.close()
