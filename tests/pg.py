"""A real PostgreSQL server for the tests: initdb into a temp dir, on a free loopback port.

PostgreSQL refuses to run as root, so as root it runs as the `postgres` user that
Debian's package creates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return str(versions[0] / name) if versions and (versions[0] / name).exists() else None


def available() -> bool:
    return _pg_bin("initdb") is not None and _pg_bin("pg_ctl") is not None


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty database; stop and delete it afterwards."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    assert initdb and pg_ctl, "PostgreSQL is not installed (apt-get install postgresql)"
    base = Path(tempfile.mkdtemp(prefix="nano-modal-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "nano", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    url = f"postgresql+psycopg://nano@127.0.0.1:{port}/postgres"
    _data_dirs[url] = (data, options, base / "log")
    try:
        deadline = time.monotonic() + 20
        import sqlalchemy as sa

        while True:
            try:
                with sa.create_engine(url).connect():
                    break
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        _data_dirs.pop(url, None)
        shutil.rmtree(base, ignore_errors=True)


_data_dirs: dict[str, tuple[Path, str, Path]] = {}


def control(url: str, action: str) -> None:
    """`pg_ctl <action> -m fast` (restart, stop, start) on a server started by postgres_server()."""
    pg_ctl = _pg_bin("pg_ctl")
    assert pg_ctl
    data, options, log = _data_dirs[url]
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-m", "fast", "-w", action]),
        check=True,
        capture_output=True,
    )


def restart(url: str) -> None:
    """Restart the server: every connection is cut."""
    control(url, "restart")
