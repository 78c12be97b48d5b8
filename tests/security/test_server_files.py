"""The server's files: its state and its admin token readable by its user only, from creation
(with a permissive umask), and the admin token kept out of its log."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_and_token_are_private_and_the_token_stays_out_of_the_log(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    port_file = tmp_path / "port"
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "NANO_MODAL_TOKEN"}  # the server makes its own
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "nano_modal.server", "--port", "0", "--state-dir", str(state_dir),
             "--port-file", str(port_file)],
            env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.umask(0o022),
        )  # fmt: skip
    try:
        assert wait_for(lambda: port_file.exists() and bool(port_file.read_text().strip()), 60), log_path.read_text()
        token = (state_dir / "admin_token").read_text().strip()
        assert len(token) > 20
        private = [state_dir / "admin_token", state_dir / "state.db"]
        private += [p for p in state_dir.glob("state.db-*")]  # SQLite's -wal and -shm
        modes = {p.name: oct(_mode(p)) for p in private}
        assert modes == {p.name: oct(0o600) for p in private}
        assert _mode(state_dir) == 0o700
        log_text = log_path.read_text()
        assert token not in log_text
        assert "admin_token" in log_text  # the log says where the token is
    finally:
        server.terminate()
        server.wait(30)


def test_a_token_file_is_not_written_through_a_symlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nano_modal import config

    home = tmp_path / "home"
    home.mkdir()
    elsewhere = tmp_path / "someone-elses-file"
    elsewhere.write_text("theirs\n")
    (home / "config.toml").symlink_to(elsewhere)
    monkeypatch.setenv("NANO_MODAL_HOME", str(home))
    with pytest.raises(PermissionError, match="symbolic link"):
        config.write_client_config("127.0.0.1:1", "secret-token")
    assert elsewhere.read_text() == "theirs\n"


def test_an_existing_token_file_is_tightened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nano_modal import config

    monkeypatch.setenv("NANO_MODAL_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text("old\n")
    (tmp_path / "config.toml").chmod(0o644)
    path = config.write_client_config("127.0.0.1:1", "secret-token")
    assert _mode(path) == 0o600 and "secret-token" in path.read_text()
