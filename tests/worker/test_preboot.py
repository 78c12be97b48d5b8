"""Containers booted ahead of need (worker/preboot.py): a booted container becomes an ordinary
function container with the caller's environment, limits and workdir; it serves one
container only, so nothing of one caller's reaches the next; a container whose start-up
environment differs starts afresh; a stopping worker leaves no booted container behind."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster, start_server, start_worker, stop
from tests.helpers import REPO, run_script, wait_for
from tests.worker._drive import require

BOOTED = re.compile(r"container (\S+) runs in (pre-\S+), booted ahead of need")

SCRIPT = """
import json, os, sys
import nano_modal

app = nano_modal.App("preboot")
secret = nano_modal.Secret.from_dict(json.loads(sys.argv[2]))


def reachable(port):
    import socket

    if not port:
        return None
    try:
        socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
        return True
    except OSError:
        return False


# serialized=True: the function travels by value, so containers do not import this file, whose
# module-level code reads the command line (Modal's own escape hatch for such scripts).
@app.function(secrets=[secret], memory=int(sys.argv[3]) or None, serialized=True)
def probe(hog_mb: int) -> dict:
    seen = {
        "container_id": os.environ["NANO_MODAL_CONTAINER_ID"],
        "env": {k: v for k, v in os.environ.items() if k.startswith("PREBOOT_")},
        "home": os.environ["HOME"],
        "cwd": os.getcwd(),
        "stdin": sys.stdin.read(),
        "marker": os.path.exists("/tmp/preboot-marker"),
        "hash_randomization": sys.flags.hash_randomization,
        "host_reachable": reachable(os.environ.get("PREBOOT_HOST_PORT")),
    }
    open("/tmp/preboot-marker", "w").close()
    hog = [bytearray(1 << 20) for _ in range(hog_mb)]  # touched: counts against the limit
    return seen


if __name__ == "__main__":
    with app.run(show_logs=False):
        try:
            print("RESULT " + json.dumps(probe.remote(int(sys.argv[1]))), flush=True)
        except Exception as exc:
            print("ERROR " + type(exc).__name__ + ": " + str(exc), flush=True)
        if len(sys.argv) > 4:  # keep the app, and its warm container, until stdin closes
            sys.stdin.read()
"""


@pytest.fixture(scope="module", params=["gvisor", "bwrap"])
def booted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A server and a worker keeping one container booted ahead of need."""
    require(request.param)
    state = tmp_path_factory.mktemp(f"preboot-{request.param}")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state, token)
    worker = start_worker(url, token, state / "worker.log", "--runtime", request.param, "--preboot", "1")
    cluster = Cluster(url, token, state, server, [worker])
    try:
        yield cluster
    finally:
        stop(worker)
        stop(server)


def booted_count(cluster: Cluster) -> int:
    return (cluster.state_dir / "worker.log").read_text().count("booted container pre-")


def call(cluster: Cluster, tmp_path: Path, hog_mb: int = 0, env: dict[str, str] | None = None, memory: int = 0) -> str:
    """Once a container is booted and idle: a new app's function called once. Its output line."""
    assert wait_for(lambda: booted_count(cluster) > handed_over(cluster), 60), "no container was booted ahead"
    run = run_script(tmp_path, SCRIPT, str(hog_mb), json.dumps(env or {}), str(memory), env=cluster.env(), timeout=120)
    lines = [line for line in run.stdout.splitlines() if line.startswith(("RESULT ", "ERROR "))]
    assert lines, run.stdout + run.stderr
    return lines[-1]


def handed_over(cluster: Cluster) -> int:
    return len(BOOTED.findall((cluster.state_dir / "worker.log").read_text()))


def ran_booted(cluster: Cluster, container_id: str) -> bool:
    return container_id in dict(BOOTED.findall((cluster.state_dir / "worker.log").read_text()))


def test_a_booted_container_runs_the_function_with_its_callers_environment(booted: Cluster, tmp_path: Path) -> None:
    line = call(booted, tmp_path, env={"PREBOOT_SECRET": "first caller's"})
    seen = json.loads(line.removeprefix("RESULT "))
    assert ran_booted(booted, seen["container_id"]), line
    assert seen["env"] == {"PREBOOT_SECRET": "first caller's"}
    assert seen["home"] == seen["cwd"] and "nano-modal-preboot-" in seen["cwd"]
    assert seen["stdin"] == ""  # the assignment was consumed and stdin closed: end of file at once


def test_a_booted_container_serves_one_caller_only(booted: Cluster, tmp_path: Path) -> None:
    first = json.loads(call(booted, tmp_path, env={"PREBOOT_SECRET": "one"}).removeprefix("RESULT "))
    second = json.loads(call(booted, tmp_path, env={"PREBOOT_OTHER": "two"}).removeprefix("RESULT "))
    assert ran_booted(booted, first["container_id"]) and ran_booted(booted, second["container_id"])
    assert first["container_id"] != second["container_id"]
    assert not second["marker"], "the second container saw the first one's /tmp"
    assert second["env"] == {"PREBOOT_OTHER": "two"}, "the second container saw the first one's secret"


def test_exec_into_a_booted_container(booted: Cluster, tmp_path: Path) -> None:
    """`nano-modal container exec` reaches it: its agent socket moved with it."""
    assert wait_for(lambda: booted_count(booted) > handed_over(booted), 60)
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {**booted.env(), "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(tmp_path / "script.py"), "0", "{}", "0", "hold"]
    with subprocess.Popen(args, env=env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as app:
        assert app.stdout is not None and app.stdin is not None
        line = next(line for line in app.stdout if line.startswith(("RESULT ", "ERROR ")))
        seen = json.loads(line.removeprefix("RESULT "))
        assert ran_booted(booted, seen["container_id"]), line
        command = ["sh", "-c", "echo $NANO_MODAL_CONTAINER_ID; pwd"]
        cli = [sys.executable, "-m", "nano_modal.cli", "container", "exec", seen["container_id"], "--", *command]
        result = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
        app.stdin.close()
    assert (result.returncode, result.stdout) == (0, f"{seen['container_id']}\n{seen['cwd']}\n"), result.stderr


def test_the_callers_memory_limit_applies_to_a_booted_container(booted: Cluster, tmp_path: Path) -> None:
    line = call(booted, tmp_path, hog_mb=1024, memory=400)
    assert line.startswith("ERROR ContainerDiedError"), line
    assert "out of memory: limit 400 MiB" in line, line


def test_an_environment_python_reads_at_start_gets_a_fresh_container(booted: Cluster, tmp_path: Path) -> None:
    line = call(booted, tmp_path, env={"PYTHONHASHSEED": "0"})
    seen = json.loads(line.removeprefix("RESULT "))
    assert seen["hash_randomization"] == 0  # it would be 1 in the container booted without it
    assert not ran_booted(booted, seen["container_id"])


def test_a_network_less_booted_container_reaches_the_server_only(tmp_path: Path) -> None:
    require("gvisor")
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path, token)
    worker = start_worker(url, token, tmp_path / "worker.log", "--runtime", "gvisor", "--block-network")
    cluster = Cluster(url, token, tmp_path, server, [worker])
    try:
        (tmp_path / "run").mkdir()
        line = call(cluster, tmp_path / "run", env={"PREBOOT_HOST_PORT": url.rpartition(":")[2]})
    finally:
        stop(worker)
        stop(server)
    seen = json.loads(line.removeprefix("RESULT "))
    assert ran_booted(cluster, seen["container_id"]), line  # and its result came back through the relay
    assert seen["host_reachable"] is False  # the server's own TCP port is not: no network at all


IMAGE_SCRIPT = """
import json, os, sys
import nano_modal

app = nano_modal.App("preboot-image")


@app.function(image=nano_modal.Image.debian_slim().env({"FROM_IMAGE": "yes"}))
def where() -> dict:
    seen = {
        "container_id": os.environ["NANO_MODAL_CONTAINER_ID"],
        "executable": sys.executable,
        "from_image": os.environ.get("FROM_IMAGE"),
        "marker": os.path.exists("/preboot-marker"),
    }
    open("/preboot-marker", "w").close()  # into this container's own overlay
    return seen


if __name__ == "__main__":  # containers import this file too (as Modal's do)
    with app.run(show_logs=False):
        print("RESULT " + json.dumps(where.remote()), flush=True)
"""


def test_containers_of_an_image_are_booted_once_it_has_started(booted: Cluster, tmp_path: Path) -> None:
    def run() -> dict[str, object]:
        done = run_script(tmp_path, IMAGE_SCRIPT, env=booted.env(), timeout=600)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        assert line is not None, done.stdout + done.stderr
        result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
        return result

    before = booted_count(booted)
    first = run()  # builds the image (or finds it built), then starts its first container afresh
    assert wait_for(lambda: booted_count(booted) > before, 120), "no container of the image was booted"
    second = run()
    assert ran_booted(booted, str(second["container_id"]))
    assert second["executable"] == first["executable"] == "/usr/bin/python3"  # the image's Python
    assert second["from_image"] == "yes" and not second["marker"]  # the image's env, a root of its own


def test_a_stopping_worker_leaves_no_booted_container(tmp_path: Path) -> None:
    require("gvisor")
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path, token)
    worker = start_worker(url, token, tmp_path / "worker.log", "--runtime", "gvisor", "--preboot", "2")
    try:
        assert wait_for(lambda: booted_count(Cluster(url, token, tmp_path, server, [worker])) == 2, 60)
        names = re.findall(r"booted container (pre-\S+)", (tmp_path / "worker.log").read_text())
        assert all(running(name) for name in names)
    finally:
        stop(worker)
        stop(server)
    assert wait_for(lambda: not any(running(name) for name in names), 15), names


def running(name: str) -> bool:
    """Whether any process on the host still names this container (runsc's own carry its id)."""
    found = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


@pytest.mark.parametrize(("flag", "env"), [(["--preboot", "-2"], {}), ([], {"NANO_MODAL_PREBOOT": "abc"})])
def test_a_bad_count_is_named_before_the_worker_starts(flag: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nano_modal.worker", "--server", "127.0.0.1:1", "--token", "t", *flag],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "argument --preboot:" in done.stderr and "is not a number of containers" in done.stderr
