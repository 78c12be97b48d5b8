"""Secret: creation, injection into containers, encryption at rest, never printed."""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import nano_modal
from nano_modal.exception import AlreadyExistsError, ExecutionError, InvalidError, NotFoundError
from nano_modal.secret import parse_dotenv

SENTINEL = "s3cr3t-" + uuid.uuid4().hex  # a value that must never show up anywhere but a container's env


def cli(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nano_modal.cli", *args], env=cluster.env(), capture_output=True, text=True, timeout=60
    )


def test_injected_into_functions(objects_app: Any) -> None:
    env = objects_app.read_env.remote(["NAMED_TOKEN", "INLINE_TOKEN", "SHARED", "NOT_SET"])
    # Later secrets in the list win: the inline one comes after the named one.
    assert env == {
        "NAMED_TOKEN": "named-value",
        "INLINE_TOKEN": "inline-value",
        "SHARED": "from-inline",
        "NOT_SET": None,
    }


def test_create_list_delete(cluster: Any) -> None:
    name = f"creds-{uuid.uuid4().hex[:8]}"
    nano_modal.Secret.objects.create(name, {"PASSWORD": SENTINEL})
    with pytest.raises(AlreadyExistsError, match=name):
        nano_modal.Secret.objects.create(name, {"PASSWORD": "other"})
    nano_modal.Secret.objects.create(name, {"PASSWORD": "ignored"}, allow_existing=True)
    assert name in [s.name for s in nano_modal.Secret.objects.list()]
    nano_modal.Secret.from_name(name, required_keys=["PASSWORD"]).hydrate()
    with pytest.raises(NotFoundError, match="missing required keys: USER"):
        nano_modal.Secret.from_name(name, required_keys=["PASSWORD", "USER"]).hydrate()
    nano_modal.Secret.delete(name)
    with pytest.raises(NotFoundError):
        nano_modal.Secret.from_name(name).hydrate()


def test_never_in_plain_text_at_rest_or_in_output(cluster: Any) -> None:
    name = f"at-rest-{uuid.uuid4().hex[:8]}"
    secret = nano_modal.Secret.from_dict({"TOKEN": SENTINEL})
    assert SENTINEL not in repr(secret)
    nano_modal.Secret.objects.create(name, {"TOKEN": SENTINEL})
    secret.hydrate()
    key_file = cluster.state_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    for path in cluster.state_dir.rglob("*"):  # database, WAL, logs: nowhere in the clear
        if path.is_file() and path != key_file:
            assert SENTINEL.encode() not in path.read_bytes(), path
    listing = cli(cluster, "secret", "list")
    assert listing.returncode == 0 and name in listing.stdout and SENTINEL not in listing.stdout


def test_from_dict_dotenv_and_local_environ(cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nexport A=1\nB='two words'\nC=\"line\\nbreak\"\nD=plain # trailing comment\n\n"
    )
    expected = {"A": "1", "B": "two words", "C": "line\nbreak", "D": "plain"}
    assert parse_dotenv((tmp_path / ".env").read_text()) == expected
    nano_modal.Secret.from_dotenv(tmp_path).hydrate()
    nano_modal.Secret.from_dotenv(tmp_path / ".env").hydrate()  # a file in the directory (like __file__)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    nano_modal.Secret.from_dotenv().hydrate()  # found in a parent directory
    with pytest.raises(InvalidError, match=r"no \.env\.missing file"):
        nano_modal.Secret.from_dotenv(tmp_path, filename=".env.missing")
    monkeypatch.setenv("NM_TEST_LOCAL", "local")
    nano_modal.Secret.from_local_environ(["NM_TEST_LOCAL"]).hydrate()
    with pytest.raises(InvalidError, match="NM_TEST_NOT_SET"):
        nano_modal.Secret.from_local_environ(["NM_TEST_NOT_SET"])
    # The same in-code variables give the same server-side secret (no pile-up across runs).
    a = nano_modal.Secret.from_dict({"X": "1", "DROPPED": None}).hydrate()
    b = nano_modal.Secret.from_dict({"X": "1"}).hydrate()
    assert a.object_id == b.object_id


def test_bad_input(cluster: Any) -> None:
    with pytest.raises(InvalidError, match="must be a string"):
        nano_modal.Secret.from_dict({"N": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidError, match="not a valid environment variable name"):
        nano_modal.Secret.from_dict({"A=B": "x"})
    with pytest.raises(InvalidError, match="name"):
        nano_modal.Secret.from_name("bad name")
    with pytest.raises(NotFoundError, match="not found"):
        nano_modal.Secret.from_name(f"missing-{uuid.uuid4().hex[:8]}").hydrate()
    # Pickling an in-code secret would put its values in a pickle: refused, and the error shows no value.
    with pytest.raises(pickle.PicklingError) as info:
        pickle.dumps(nano_modal.Secret.from_dict({"K": SENTINEL}))
    assert SENTINEL not in str(info.value)
    with pytest.raises(InvalidError, match="secrets must be"):

        @nano_modal.App("bad-secrets").function(secrets=["not a secret"], serialized=True)
        def f() -> None: ...


def test_missing_named_secret_fails_the_app_start(cluster: Any) -> None:
    app = nano_modal.App("needs-a-secret")

    @app.function(secrets=[nano_modal.Secret.from_name(f"missing-{uuid.uuid4().hex[:8]}")], serialized=True)
    def f() -> None: ...

    with pytest.raises(NotFoundError, match="secret"), app.run(show_logs=False):
        pass


def test_delete_in_use_is_refused(objects_app: Any) -> None:
    with pytest.raises(ExecutionError, match="in use by function read_env"):
        nano_modal.Secret.objects.delete("objects-test-secret")
    assert "objects-test-secret" in [s.name for s in nano_modal.Secret.objects.list()]


def test_cli(cluster: Any, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = cli(cluster, "secret", "create", name, f"API_KEY={SENTINEL}", "USER=me")
    assert created.returncode == 0, created.stderr
    assert "API_KEY, USER" in created.stdout and SENTINEL not in created.stdout + created.stderr
    again = cli(cluster, "secret", "create", name, "API_KEY=x")
    assert again.returncode == 1 and "--force" in again.stderr
    assert cli(cluster, "secret", "create", name, "API_KEY=rotated", "--force").returncode == 0
    bad = cli(cluster, "secret", "create", name + "x", "NOEQUALS")
    assert bad.returncode == 1 and "KEY=VALUE" in bad.stderr
    listed = cli(cluster, "secret", "list")
    assert name in listed.stdout and "rotated" not in listed.stdout
    assert cli(cluster, "secret", "delete", name, "--yes").returncode == 0
    gone = cli(cluster, "secret", "delete", name, "--yes")
    assert gone.returncode == 1 and "not found" in gone.stderr
    env = {k: v for k, v in cluster.env().items() if k != "NANO_MODAL_SERVER_URL"}
    env["NANO_MODAL_HOME"] = str(tmp_path)  # no config file there: no server configured
    unconfigured = subprocess.run(
        [sys.executable, "-m", "nano_modal.cli", "secret", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert unconfigured.returncode == 1 and "no server configured" in unconfigured.stderr
    assert os.environ.get("NANO_MODAL_SERVER_URL")  # this process still points at the cluster
