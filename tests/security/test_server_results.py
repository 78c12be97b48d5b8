"""Results of untrusted code (restrict_modal_access=True) come back as plain data: a hostile
`__reduce__` in a result or in a raised exception does not run on the caller. The marker
file such a pickle writes, named by the unpickling process's pid, must not appear for this
process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.exception import DeserializationError, RemoteError
from tests.apps import server_untrusted_app as untrusted
from tests.conftest import Cluster
from tests.helpers import run_script


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[None]:
    with untrusted.app.run():
        yield


def _ran_here(marker_dir: Path) -> bool:
    return (marker_dir / str(os.getpid())).exists()


def test_a_hostile_result_is_not_unpickled_on_the_caller(running: None, tmp_path: Path) -> None:
    with pytest.raises(DeserializationError, match="only plain data"):
        untrusted.hostile_result.remote(str(tmp_path))
    with pytest.raises(DeserializationError, match="only plain data"):
        untrusted.hostile_result.spawn(str(tmp_path)).get(timeout=120)
    assert not _ran_here(tmp_path)


def test_a_hostile_exception_arrives_as_text(running: None, tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as raised:
        untrusted.hostile_raise.remote(str(tmp_path))
    assert not _ran_here(tmp_path)
    assert raised.value.type_name == "HostileError"
    assert raised.value.message == f"hostile error, marker dir {tmp_path}"
    assert "hostile_raise" in raised.value.remote_traceback and "HostileError" in raised.value.remote_traceback


def test_plain_data_comes_back_whole(running: None) -> None:
    result = untrusted.plain.remote(3)
    assert result == {
        "x": 3,
        "items": [1, 2.5, "s", b"b", None, True, (1, 2), {3}, frozenset({4}), 1j, bytearray(b"ba")],
    }


def test_handles_by_name_know_their_function_is_untrusted(cluster: Cluster, tmp_path: Path) -> None:
    """Deployed, and called through Function.from_name and Cls.from_name from another program
    (this one runs the app ephemerally)."""
    script = f"""
        import os, sys
        import nano_modal
        from nano_modal.exception import DeserializationError
        from tests.apps.server_untrusted_app import app

        app.deploy(name="server-untrusted-deployed")
        for handle in (
            nano_modal.Function.from_name("server-untrusted-deployed", "hostile_result"),
            nano_modal.Cls.from_name("server-untrusted-deployed", "UntrustedCls")().hostile_result,
        ):
            try:
                handle.remote({str(tmp_path)!r})
            except DeserializationError as exc:
                print("refused:", exc)
        print("pid", os.getpid())
    """
    done = run_script(tmp_path, script, env=cluster.env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("refused:") == 2, done.stdout
    caller = done.stdout.split("pid ")[1].split()[0]
    assert not (tmp_path / caller).exists()


def test_the_default_path_trusts_the_container(running: None, tmp_path: Path) -> None:
    """What the docs warn about: without restrict_modal_access the result is unpickled as is."""
    untrusted.trusted_result.remote(str(tmp_path))
    assert _ran_here(tmp_path)
