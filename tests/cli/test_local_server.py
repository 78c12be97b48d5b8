"""Runs without a server configured share one local server per $NANO_MODAL_HOME (embedded.py):
its state persists across runs, concurrent runs start it once, a deployed app keeps it up, and
it stops once nothing has run for the idle time."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from nano_modal.client import Client
from nano_modal.proto import api_pb2
from nano_modal.version import __version__
from tests.helpers import REPO, wait_for

IDLE = "3"  # seconds: NANO_MODAL_LOCAL_IDLE_EXIT of these tests

DICT_APP = """
import nano_modal as modal

app = modal.App("dict-persist")


@app.local_entrypoint()
def main(value: str = "") -> None:
    d = modal.Dict.from_name("persisted", create_if_missing=True)
    if value:
        d["k"] = value
    print("k =", d.get("k"))
"""

DEPLOYED_APP = """
import nano_modal as modal

app = modal.App("kept")


@app.function()
def double(x: int) -> int:
    return 2 * x
"""

CALLER = """
import nano_modal as modal

print("double(21) =", modal.Function.from_name("kept", "double").remote(21))
"""


def _env(home: Path, idle: str = IDLE) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANO_MODAL_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**env, "NANO_MODAL_HOME": str(home), "NANO_MODAL_LOCAL_IDLE_EXIT": idle, "NANO_MODAL_RUNTIME": "process"}


def _cli(home: Path, cwd: Path, *args: str, idle: str = IDLE) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "nano_modal.cli", *args]
    env = _env(home, idle)
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    return out, err


def _where(err: str) -> str:
    [line] = [x for x in err.splitlines() if x.startswith("runs on")]
    return line


def _supervisor(home: Path) -> int | None:
    try:
        return int(json.loads((home / "local" / "server.json").read_text())["pid"])
    except (OSError, ValueError):
        return None


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # exited, not yet reaped


def test_a_named_dict_written_by_one_run_is_there_in_the_next(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "app.py").write_text(DICT_APP)
    idle = "600"  # up until `server stop` below
    out1, err1 = _done(_cli(home, tmp_path, "run", "app.py", "--value", "v1", idle=idle))
    out2, err2 = _done(_cli(home, tmp_path, "run", "app.py", idle=idle))
    assert "k = v1" in out1 and "k = v1" in out2
    assert _where(err1) == _where(err2)  # the second run found the first's server
    assert not (home / "embedded").exists()  # no per-run state any more
    pid = _supervisor(home)
    assert pid is not None
    status, _ = _done(_cli(home, tmp_path, "server", "status"))
    assert status.startswith(f"local server at {_where(err1).split('(')[1].split(',')[0]} (supervisor pid {pid}")
    stopped, _ = _done(_cli(home, tmp_path, "server", "stop"))
    assert stopped.startswith("stopped the local server") and _gone(pid)
    status, _ = _done(_cli(home, tmp_path, "server", "status"))
    assert status.startswith("no local server runs")


def test_concurrent_runs_start_one_local_server_and_it_stops_once_idle(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "app.py").write_text(DICT_APP)
    runs = [_cli(home, tmp_path, "run", "app.py", "--value", f"v{i}") for i in range(3)]
    assert wait_for(lambda: _supervisor(home) is not None, timeout=120, interval=0.05)
    pid = _supervisor(home)
    assert pid is not None
    wheres = {_where(_done(run)[1]) for run in runs}
    assert len(wheres) == 1, wheres  # one server for the three
    assert wait_for(lambda: _gone(pid), timeout=120, interval=0.2)  # idle: 3 s after the last app
    assert not (home / "local" / "server.json").exists()
    url = wheres.pop().split("(")[1].split(",")[0]
    out = subprocess.run(["ss", "-Htln", f"sport = :{url.rpartition(':')[2]}"], capture_output=True, text=True)
    assert out.stdout.strip() == ""  # the server stopped with its supervisor


def test_a_deployed_app_keeps_the_local_server_up_for_later_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "deployed.py").write_text(DEPLOYED_APP)
    (tmp_path / "caller.py").write_text(CALLER)
    _done(_cli(home, tmp_path, "deploy", "deployed.py"))
    pid = _supervisor(home)
    assert pid is not None
    time.sleep(3 * float(IDLE))  # well past the idle time: only the deployed app keeps it up
    assert not _gone(pid)
    proc = subprocess.run(
        [sys.executable, "caller.py"], cwd=tmp_path, env=_env(home), capture_output=True, text=True, timeout=240
    )
    assert "double(21) = 42" in proc.stdout, proc.stderr
    assert _supervisor(home) == pid
    _done(_cli(home, tmp_path, "app", "stop", "kept"))
    assert wait_for(lambda: _gone(pid), timeout=120, interval=0.2)


def _grpc_calls(base: str, token: str, method: str) -> float:
    """How many `method` calls the server has received, from its /_/metrics."""
    text = httpx.get(f"{base}/_/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    prefix = f'nano_modal_grpc_calls_total{{method="{method}"}} '
    counts = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    # No line yet means no call yet: the supervisor may not have asked once since the server began.
    return counts[0] if counts else 0.0


async def _hello(url: str, token: str) -> api_pb2.HelloResponse:
    return await Client(url, token).stub.Hello(api_pb2.HelloRequest(client_version=__version__), timeout=30)


def test_the_supervisor_asks_the_server_seldom_whether_anything_runs(tmp_path: Path) -> None:
    # Each ask is an AppList and a Hello on the server's loop (1-4 ms each, which a warm call
    # waiting on that loop pays too): every 0.5 s before, now every embedded.BUSY_CHECK_SECONDS.
    home = tmp_path / "home"
    (tmp_path / "app.py").write_text(DICT_APP)
    _done(_cli(home, tmp_path, "run", "app.py", idle="600"))  # the server stays up after the run
    info = json.loads((home / "local" / "server.json").read_text())
    try:
        hello = asyncio.run(_hello(info["url"], info["token"]))
        before = _grpc_calls(hello.web_base_url, info["token"], "AppList")
        time.sleep(2.5)  # five asks at the old pace; at most one at the new
        after = _grpc_calls(hello.web_base_url, info["token"], "AppList")
        assert after - before <= 1
    finally:
        _done(_cli(home, tmp_path, "server", "stop"))
