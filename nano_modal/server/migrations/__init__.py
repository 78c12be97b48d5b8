"""Schema migrations of the state store (Alembic), applied by the server at start.

Users need no alembic.ini: `upgrade(engine)` configures Alembic in code. A database made
before migrations existed (tables, but no `alembic_version`) is stamped at the baseline
first, so it is upgraded like any other.

A schema change is a new revision in versions/, written from a diff against the models:

    python -m nano_modal.server.migrations revision "add a column to calls"
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

# Importing Alembic logs a line per plugin at INFO; the server logs at INFO.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
# A table every pre-migration database has: its presence without alembic_version means "baseline".
_BASELINE_MARKER = "apps"


def _worth_logging(record: logging.LogRecord) -> bool:
    """Keep Alembic's "Running upgrade ..." lines; drop its two lines of chatter on every start."""
    return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_worth_logging)


def alembic_config(connection: sa.Connection | None = None, extra_versions: Sequence[Path] = ()) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    locations = [str(HERE / "versions"), *map(str, extra_versions)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head(extra_versions: Sequence[Path] = ()) -> str:
    found = ScriptDirectory.from_config(alembic_config(None, extra_versions)).get_current_head()
    assert found is not None
    return found


def upgrade(engine: sa.Engine, target: str = "head", extra_versions: Sequence[Path] = ()) -> None:
    """Bring the database to `target` (the newest revision by default), stamping old databases first."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Servers starting together on one database migrate one at a time.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7046132)"))
        cfg = alembic_config(connection, extra_versions)
        inspector = sa.inspect(connection)
        if current_revision(connection) is None and inspector.has_table(_BASELINE_MARKER):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, target)
