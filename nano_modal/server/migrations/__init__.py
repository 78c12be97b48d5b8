"""Schema migrations of the state store (Alembic), applied by the server at start.

Users need no alembic.ini: `upgrade(engine)` configures Alembic in code. A database made
before migrations existed (tables, but no `alembic_version`) is stamped at the baseline
first, so it is upgraded like any other.

A schema change is a new revision in versions/, written from a diff against the models:

    python -m nano_modal.server.migrations revision "add a column to calls"

The server's start needs Alembic (~0.1 s of imports, more to run) only when there is
something to migrate: a database already at the newest revision is left alone, and a new
one is made from the models and stamped at that revision (Alembic's recipe for a database
built from scratch; tests/server/test_migrations.py holds models and revisions equal).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

# Importing Alembic logs a line per plugin at INFO; the server logs at INFO.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
# A table every pre-migration database has: its presence without alembic_version means "baseline".
_BASELINE_MARKER = "apps"


def _worth_logging(record: logging.LogRecord) -> bool:
    """Keep Alembic's "Running upgrade ..." lines; drop its two lines of chatter on every start."""
    return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_worth_logging)


def alembic_config(connection: sa.Connection | None = None, extra_versions: Sequence[Path] = ()) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    locations = [str(HERE / "versions"), *map(str, extra_versions)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(connection: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head(extra_versions: Sequence[Path] = ()) -> str:
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(alembic_config(None, extra_versions)).get_current_head()
    assert found is not None
    return found


def newest_revision() -> str:
    """head() of versions/ read from the files themselves, without Alembic: the one revision
    that no other names as its down_revision."""
    revisions, parents = set(), set()
    for path in (HERE / "versions").glob("*.py"):
        text = path.read_text()
        if found := re.search(r'^revision(?:: *str)? *= *"([^"]+)"', text, re.M):
            revisions.add(found.group(1))
        if found := re.search(r'^down_revision(?:: *str \| None)? *= *"([^"]+)"', text, re.M):
            parents.add(found.group(1))
    (newest,) = revisions - parents
    return newest


def upgrade(
    engine: sa.Engine,
    target: str = "head",
    extra_versions: Sequence[Path] = (),
    new_from: sa.MetaData | None = None,
) -> None:
    """Bring the database to `target` (the newest revision by default), stamping old databases
    first. With `new_from`, a database without tables is made from those models instead and
    stamped at the newest revision."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Servers starting together on one database migrate one at a time.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7046132)"))
        if target == "head" and not extra_versions and _up_to_date(connection, new_from):
            return
        from alembic import command

        cfg = alembic_config(connection, extra_versions)
        inspector = sa.inspect(connection)
        if current_revision(connection) is None and inspector.has_table(_BASELINE_MARKER):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, target)


def _up_to_date(connection: sa.Connection, new_from: sa.MetaData | None) -> bool:
    """True if the database is at the newest revision, or was empty and is now made from `new_from`."""
    tables = set(sa.inspect(connection).get_table_names())
    newest = newest_revision()
    if "alembic_version" in tables:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == newest
    if tables or new_from is None:
        return False
    new_from.create_all(connection)
    version = sa.Table(
        "alembic_version",
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    version.create(connection)  # as Alembic makes it
    connection.execute(version.insert().values(version_num=newest))
    return True
