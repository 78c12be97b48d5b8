"""What callers see when things go wrong: remote exceptions, bad arguments, bad credentials, no server."""

from __future__ import annotations

import builtins
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nano_modal.exception import ConnectionError, RemoteError, SerializationError
from tests.helpers import run_script

# ---------------------------------------------------------------- exceptions raised by user code


def test_remote_exception_has_same_type_and_remote_traceback(core_app: Any) -> None:
    with pytest.raises(ValueError, match="boom 42") as info:
        core_app.raise_value_error.remote("boom 42")
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Remote traceback" in notes
    # Both frames of the remote stack, with their source lines.
    assert "in raise_value_error" in notes
    assert "in _helper_that_raises" in notes
    assert "raise ValueError(message)" in notes
    assert "core_app.py" in notes


def test_custom_exception_class_comes_back(core_app: Any) -> None:
    with pytest.raises(core_app.CustomError, match="custom failure"):
        core_app.raise_custom.remote("custom failure")


def test_exception_from_spawned_call_is_raised_by_get(core_app: Any) -> None:
    call = core_app.raise_value_error.spawn("spawned boom")
    with pytest.raises(ValueError, match="spawned boom") as info:
        call.get(timeout=60)
    assert "_helper_that_raises" in "\n".join(getattr(info.value, "__notes__", []))


def test_exception_unknown_to_client_becomes_remote_error(core_app: Any) -> None:
    # The class exists only in the container, so the client cannot unpickle it.
    with pytest.raises(RemoteError) as info:
        core_app.raise_container_only_error.remote("only over there")
    assert "ContainerOnlyError" in str(info.value)
    assert "only over there" in str(info.value)
    assert "raise_container_only_error" in "\n".join(getattr(info.value, "__notes__", []))


def test_exception_that_cannot_be_rebuilt_becomes_remote_error(core_app: Any) -> None:
    with pytest.raises(RemoteError) as info:
        core_app.raise_unrebuildable.remote()
    assert "UnrebuildableError" in str(info.value)
    assert "left/right" in str(info.value)


# ---------------------------------------------------------------- arguments that cannot be sent


def test_unpicklable_argument_raises_serialization_error_before_running(core_app: Any, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(SerializationError) as info:
        core_app.touch.remote(str(marker), threading.Lock())
    message = str(info.value)
    assert "argument 1" in message
    assert "lock" in message.lower()
    assert "touch" in message
    time.sleep(1.0)
    assert not marker.exists(), "the function ran although its arguments could not be sent"


def test_unpicklable_keyword_argument_is_named(core_app: Any, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(SerializationError, match="argument 'content'"):
        core_app.touch.remote(str(marker), content=(lambda i=i: i for i in range(3)))
    time.sleep(0.5)
    assert not marker.exists()


def test_unpicklable_argument_in_spawn(core_app: Any) -> None:
    with pytest.raises(SerializationError, match="argument 0"):
        core_app.square.spawn(threading.Lock())


def test_unpicklable_argument_in_map(core_app: Any) -> None:
    with pytest.raises(SerializationError, match="argument 0"):
        list(core_app.square.map([1, 2, threading.Lock(), 4]))


def test_unpicklable_map_kwargs(core_app: Any) -> None:
    with pytest.raises(SerializationError, match="argument 'z'"):
        list(core_app.add.map([1, 2], kwargs={"z": threading.Lock()}))


# ---------------------------------------------------------------- credentials and connectivity

CLIENT_SCRIPT = """
import time
import nano_modal

app = nano_modal.App("client-errors")

@app.function()
def f():
    return 1

started = time.monotonic()
try:
    with app.run(show_logs=False):
        f.remote()
except BaseException as exc:
    print("ERROR", type(exc).__module__, type(exc).__name__, isinstance(exc, ConnectionError))
    print("ELAPSED", time.monotonic() - started)
    print("MESSAGE", str(exc).replace("\\n", " "))
else:
    print("NO ERROR")
"""


def _parse(stdout: str) -> tuple[str, float, str]:
    error = re.search(r"^ERROR (.*)$", stdout, re.M)
    elapsed = re.search(r"^ELAPSED ([\d.]+)$", stdout, re.M)
    message = re.search(r"^MESSAGE (.*)$", stdout, re.M)
    assert error and elapsed and message, stdout
    return error.group(1), float(elapsed.group(1)), message.group(1)


def test_wrong_token_raises_auth_error_quickly(cluster: Any, tmp_path: Path) -> None:
    proc = run_script(tmp_path, CLIENT_SCRIPT, env={**cluster.env(), "NANO_MODAL_TOKEN": "wrong"}, timeout=60)
    error, elapsed, message = _parse(proc.stdout)
    assert error.startswith("nano_modal.exception AuthError"), proc.stdout + proc.stderr
    assert elapsed < 5
    assert "token" in message.lower()


def test_unreachable_server_raises_connection_error(cluster: Any, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    env = {**cluster.env(), "NANO_MODAL_SERVER_URL": f"127.0.0.1:{closed_port}"}
    proc = run_script(tmp_path, CLIENT_SCRIPT, env=env, timeout=60)
    error, elapsed, message = _parse(proc.stdout)
    # nano_modal's ConnectionError, which the builtin ConnectionError also catches.
    assert error == "nano_modal.exception ConnectionError True", proc.stdout + proc.stderr
    assert elapsed < 10
    assert str(closed_port) in message


def test_connection_error_is_builtin_subclass() -> None:
    assert issubclass(ConnectionError, builtins.ConnectionError)


def test_containers_that_cannot_start_fail_the_call(cluster: Any) -> None:
    """A container that dies before it can say hello (here: an environment in which Python
    cannot even start) is not restarted forever: after a few, the call fails saying why."""
    import nano_modal
    from nano_modal.exception import ExecutionError, InvalidError

    app = nano_modal.App("errors-unstartable")
    broken = nano_modal.Secret.from_dict({"PYTHONHOME": "/nonexistent"})

    @app.function(serialized=True, secrets=[broken])
    def never_runs() -> int:
        return 1

    with app.run(show_logs=False):
        started = time.monotonic()
        with pytest.raises(ExecutionError, match=r"exit before they start \(the last 3 in a row; exit code 1"):
            never_runs.remote()
        assert time.monotonic() - started < 60
        with pytest.raises(InvalidError, match=r"failed to start: containers of .* exit before they start"):
            never_runs.remote()  # at once: the function is known not to start


def test_simulate_preemption_interrupts_then_kills() -> None:
    import subprocess
    import sys

    script = (
        "import time, nano_modal.exception as e\n"
        "e.PREEMPTION_KILL_AFTER = 2.0\n"  # room for a loaded machine to run the handler
        "try:\n"  # the SIGINT may come before the next line: inside the try, not before it
        "    e.simulate_preemption(0, jitter_seconds=0)\n"
        "    time.sleep(10)\n"
        "except KeyboardInterrupt:\n"
        "    print('preempted', flush=True)\n"
        "time.sleep(10)\n"
        "print('not killed')\n"
    )
    for ignored in (False, True):  # True: started with SIGINT ignored, as a background job's children are
        prefix = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n" if ignored else ""
        proc = subprocess.run([sys.executable, "-c", prefix + script], capture_output=True, text=True, timeout=60)
        assert proc.stdout == "preempted\n" and proc.returncode == -9, (ignored, proc)


def test_interact_says_there_is_no_interactive_run() -> None:
    import nano_modal
    from nano_modal.exception import InvalidError

    with pytest.raises(InvalidError, match="nano-modal shell"):
        nano_modal.interact()
