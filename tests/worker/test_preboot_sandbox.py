"""Sandboxes booted ahead of need (worker/preboot.py, the agent's `main(booted=True)`): once a
worker has run a sandbox it keeps one booted, and the next sandbox runs in it with its own
environment, and nothing of the platform's (no server address, no token, no link to the
server); a booted sandbox serves one sandbox only; execs reach it; a worker that never ran a
sandbox boots none. And the address watch that lets a booted bwrap container skip its network's
refresh at hand-over reads what the kernel announced before it answers."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cluster, start_server, start_worker, stop
from tests.helpers import run_in_own_network, run_script, wait_for
from tests.worker._drive import require

HANDED = re.compile(r"container (sb-\S+) runs in (pre-\S+), booted ahead of need")
BOOTED = "booted sandbox pre-"

# Prints what the sandbox's entrypoint sees, then what an exec in it sees (one JSON line each).
SCRIPT = """
import json, sys
import nano_modal

SEE = '''
import json, os, sys
seen = {
    "container_id": os.environ.get("NANO_MODAL_CONTAINER_ID"),
    "secret": {k: v for k, v in os.environ.items() if k.startswith("PREBOOT_")},
    "platform": sorted(k for k in os.environ if k in ("NANO_MODAL_SERVER_URL", "NANO_MODAL_TOKEN")),
    "server_link": os.path.exists("/run/nano-modal/server.sock"),
    "home": os.environ.get("HOME"),
    "cwd": os.getcwd(),
    "marker": os.path.exists("/tmp/preboot-marker"),
}
open("/tmp/preboot-marker", "w").close()
print(json.dumps(seen), flush=True)
'''
app = nano_modal.App("preboot-sandbox")
with app.run(show_logs=False):
    secret = nano_modal.Secret.from_dict(json.loads(sys.argv[1]))
    sb = nano_modal.Sandbox.create(sys.executable, "-c", SEE + "sys.stdin.read()", app=app, secrets=[secret])
    entry = json.loads(next(iter(sb.stdout)))
    p = sb.exec(sys.executable, "-c", SEE)
    print("RESULT " + json.dumps({"id": sb.object_id, "entry": entry, "exec": json.loads(p.stdout.read())}))
    sb.stdin.write_eof()
    sb.stdin.drain()
    sb.wait()
    print("EXIT", sb.returncode, flush=True)
"""


@pytest.fixture(params=["bwrap", "gvisor"])
def booted(request: pytest.FixtureRequest, isolated_cluster: Callable[..., Cluster]) -> Cluster:
    """A server and a worker keeping one container of each kind it has run booted ahead of need."""
    require(request.param)
    return isolated_cluster(request.param, "--preboot", "1")


def worker_log(cluster: Cluster) -> str:
    return (cluster.state_dir / "worker.log").read_text(errors="replace")


def create(cluster: Cluster, tmp_path: Path, env: dict[str, str]) -> dict:
    """A sandbox of a new app, created once a booted sandbox is ready if the worker keeps one."""
    run = run_script(tmp_path, SCRIPT, json.dumps(env), env=cluster.env(), timeout=180)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines and "EXIT 0" in run.stdout, run.stdout + run.stderr
    seen: dict = json.loads(lines[-1].removeprefix("RESULT "))
    return seen


def await_a_booted_sandbox(cluster: Cluster, tmp_path: Path) -> None:
    if BOOTED not in worker_log(cluster):  # the worker's first sandbox starts afresh, then it keeps one
        create(cluster, tmp_path, {})
    handed = len(HANDED.findall(worker_log(cluster)))
    assert wait_for(lambda: worker_log(cluster).count(BOOTED) > handed, 120), "no sandbox was booted ahead"


def create_booted(cluster: Cluster, tmp_path: Path, env: dict[str, str]) -> dict:
    await_a_booted_sandbox(cluster, tmp_path)
    return create(cluster, tmp_path, env)


def ran_booted(cluster: Cluster, sandbox_id: str) -> bool:
    return sandbox_id in dict(HANDED.findall(worker_log(cluster)))


def test_a_sandbox_runs_in_a_booted_container_with_its_own_environment(booted: Cluster, tmp_path: Path) -> None:
    seen = create_booted(booted, tmp_path, {"PREBOOT_SECRET": "first caller's"})
    assert ran_booted(booted, seen["id"]), worker_log(booted)[-3000:]
    for view in (seen["entry"], seen["exec"]):  # the entrypoint's, and an exec's
        assert view["container_id"] == seen["id"]
        assert view["secret"] == {"PREBOOT_SECRET": "first caller's"}
        assert view["platform"] == [] and view["server_link"] is False  # as any sandbox: no way to the server
        assert view["home"] == view["cwd"] and "nano-modal-preboot-" in view["cwd"]
    assert seen["exec"]["marker"]  # the exec ran in the same container as the entrypoint


def test_a_booted_sandbox_serves_one_sandbox_only(booted: Cluster, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = create_booted(booted, tmp_path / "one", {"PREBOOT_SECRET": "one"})
    second = create_booted(booted, tmp_path / "two", {"PREBOOT_OTHER": "two"})
    assert ran_booted(booted, first["id"]) and ran_booted(booted, second["id"])
    assert first["entry"]["cwd"] != second["entry"]["cwd"]
    assert not second["entry"]["marker"], "the second sandbox saw the first one's /tmp"
    assert second["entry"]["secret"] == {"PREBOOT_OTHER": "two"}, "the second sandbox saw the first one's secret"


BACK_TO_BACK = """
import nano_modal

app = nano_modal.App("back-to-back")
with app.run(show_logs=False):
    for _ in range(2):
        sb = nano_modal.Sandbox.create("echo", "hi", app=app)
        print("SANDBOX", sb.object_id, sb.stdout.read().strip(), flush=True)
        sb.wait()
"""


def test_the_next_sandbox_waits_for_the_one_booting(booted: Cluster, tmp_path: Path) -> None:
    """Created right after one was handed over: its replacement is due, not yet booted. It boots
    at once and the sandbox waits for it, rather than starting a second container beside it."""
    (tmp_path / "first").mkdir()
    await_a_booted_sandbox(booted, tmp_path / "first")
    run = run_script(tmp_path, BACK_TO_BACK, env=booted.env(), timeout=180)
    made = re.findall(r"SANDBOX (\S+) (.*)", run.stdout)
    assert [out for _, out in made] == ["hi", "hi"], run.stdout + run.stderr
    assert all(ran_booted(booted, sandbox_id) for sandbox_id, _ in made), worker_log(booted)[-3000:]


def test_a_worker_that_ran_no_sandbox_boots_none(tmp_path: Path) -> None:
    """Booted sandboxes cost memory while idle: only a worker that has run one keeps one."""
    require("bwrap")
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path, token)
    worker = start_worker(url, token, tmp_path / "worker.log", "--runtime", "bwrap", "--preboot", "1")
    try:
        log = tmp_path / "worker.log"
        assert wait_for(lambda: "booted container pre-" in log.read_text(errors="replace"), 120)
        assert BOOTED not in log.read_text(errors="replace")
    finally:
        stop(worker)
        stop(server)


def test_a_stopping_worker_leaves_no_booted_sandbox(tmp_path: Path) -> None:
    require("gvisor")
    token = secrets.token_urlsafe(16)
    server, url = start_server(tmp_path, token)
    worker = start_worker(url, token, tmp_path / "worker.log", "--runtime", "gvisor", "--preboot", "1")
    cluster = Cluster(url, token, tmp_path, server, [worker])
    try:
        (tmp_path / "run").mkdir()
        create(cluster, tmp_path / "run", {})  # the worker's first sandbox: then it boots one
        assert wait_for(lambda: BOOTED in worker_log(cluster), 120), "no sandbox was booted ahead"
        names = re.findall(r"booted sandbox (pre-\S+)", worker_log(cluster))
        assert all(running(name) for name in names)
    finally:
        stop(worker)
        stop(server)
    assert wait_for(lambda: not any(running(name) for name in names), 15), names


def running(name: str) -> bool:
    """Whether any process on the host still names this container (runsc's own carry its id)."""
    found = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


# In a network namespace of its own (the host's addresses untouched): a watch that has heard of
# nothing is unchanged; an address added there counts at once, with no turn of an event loop.
WATCH = """
import asyncio
import subprocess

from nano_modal.worker.address_watch import AddressWatch


async def deny_again():
    pass


async def main():
    watch = AddressWatch(deny_again)
    watch.start()
    generation = watch.generation
    print("quiet", watch.unchanged_since(generation))
    subprocess.run(["ip", "addr", "add", "192.0.2.77/32", "dev", "lo"], check=True)
    print("gained", watch.unchanged_since(generation))
    watch.close()


asyncio.run(main())
"""


def test_the_address_watch_counts_an_address_added_just_before_it_is_asked(tmp_path: Path) -> None:
    run = run_in_own_network(tmp_path, WATCH)
    assert run.stdout.split("\n")[:2] == ["quiet True", "gained False"], run.stdout + run.stderr


def test_a_booted_sandbox_that_dies_before_its_agent_dials_in_is_named_at_once(tmp_path: Path) -> None:
    """Its boot fails in moments with its exit status and stderr (the sandbox waiting for it then
    starts afresh), not after the agent's whole 60 s: a sandbox waited out that minute and failed."""
    import asyncio
    import time

    from nano_modal.worker.preboot import _dialed
    from nano_modal.worker.sandbox_relay import AgentLink

    async def boot() -> str:
        link = AgentLink()
        await link.start()
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "echo 'runsc: it broke' >&2; exit 3", stderr=asyncio.subprocess.PIPE
        )
        try:
            await _dialed(proc, link)
        except RuntimeError as exc:
            return str(exc)
        finally:
            link.close()
        return "dialed"

    started = time.monotonic()
    said = asyncio.run(boot())
    assert said == "it exited (3) before its agent dialed in: runsc: it broke"
    assert time.monotonic() - started < 10
