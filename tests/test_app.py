"""App: where code runs (is_local), decorator validation, logs shown to the caller."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import nano_modal
from nano_modal.exception import InvalidError
from tests.helpers import run_script


def test_is_local_true_here_false_remotely(core_app: Any) -> None:
    assert nano_modal.is_local() is True
    assert core_app.where.remote()["is_local"] is False
    assert core_app.where.local()["is_local"] is True


def test_current_ids_are_none_locally() -> None:
    assert nano_modal.current_input_id() is None
    assert nano_modal.current_function_call_id() is None


def test_function_decorator_needs_parentheses() -> None:
    app = nano_modal.App("decorator-tests")
    with pytest.raises(InvalidError):

        @app.function  # type: ignore[arg-type]
        def f() -> None:
            pass


def test_function_options_are_validated() -> None:
    app = nano_modal.App("validation-tests")
    with pytest.raises(InvalidError, match="timeout"):
        app.function(timeout=0, serialized=True)(lambda: None)
    with pytest.raises(InvalidError, match="max_containers"):
        app.function(max_containers=0, serialized=True)(lambda: None)
    with pytest.raises(InvalidError, match="max_retries"):
        nano_modal.Retries(max_retries=-1)


def test_function_logs_reach_caller_stdout_with_function_name(cluster: Any, tmp_path: Path) -> None:
    proc = run_script(
        tmp_path,
        """
        import sys
        import nano_modal

        app = nano_modal.App("log-tests")

        @app.function()
        def chatty(x):
            print(f"hello from the container {x}")
            print(f"complaint {x}", file=sys.stderr)
            return x + 1

        if __name__ == "__main__":
            with app.run():
                print("RESULT", chatty.remote(41))
        """,
        env=cluster.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "RESULT 42" in proc.stdout
    assert re.search(r"^\[chatty [\w-]+\] hello from the container 41$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\[chatty [\w-]+\] complaint 41$", proc.stderr, re.M), proc.stderr


def test_app_include_source_is_noted_and_ignored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nano_modal import _porting_options

    monkeypatch.setattr(_porting_options, "_noted", set())  # each option is noted once per process
    app = nano_modal.App("include-source", include_source=True)
    assert app.name == "include-source"
    assert "App(include_source=...) ignored: nano-modal always ships" in capsys.readouterr().err
