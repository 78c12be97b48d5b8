"""`python -m nano_modal.server.migrations revision "message"`: write a new revision from the models' diff.

The diff is taken against a scratch SQLite database upgraded to the current head.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from . import alembic_config, upgrade


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] != "revision":
        raise SystemExit('usage: python -m nano_modal.server.migrations revision "what changes"')
    with tempfile.TemporaryDirectory() as scratch:
        engine = sa.create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        upgrade(engine)
        with engine.begin() as connection:
            command.revision(alembic_config(connection), message=argv[1], autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
