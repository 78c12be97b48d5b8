"""Sandboxes on the isolating runtimes (bwrap, gvisor): the API works, and attacks from inside fail.

One driver process per runtime runs every scenario against an isolated cluster and reports
JSON; each test checks one result. The attacker's code runs inside the sandbox as a user's
command would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.helpers import run_script
from tests.worker._drive import require

# Runs inside a sandbox: every place a credential could hide, tried against the admin API.
STEAL_TOKEN = r"""
import json, os, re, sys
import grpc
from nano_modal.proto import api_pb2, api_pb2_grpc
server = sys.argv[1]
candidates = set(os.environ.values())
for top in (os.getcwd(), os.environ.get("HOME", "/"), "/tmp", "/run", "/etc"):
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                text = open(os.path.join(root, name), errors="ignore").read(1 << 20)
                candidates.update(re.findall(r"[A-Za-z0-9_\-]{16,}", text))
            except OSError:
                pass
channel = grpc.insecure_channel(server)
stub = api_pb2_grpc.NanoModalStub(channel)
accepted = []
for token in candidates:
    try:
        stub.ContainerList(api_pb2.ContainerListRequest(), metadata=(("x-nano-modal-token", token),), timeout=5)
        accepted.append(token[:4])
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            accepted.append(f"{token[:4]}: {exc.code()}")
print(json.dumps({"tried": len(candidates), "accepted": accepted,
                  "env": sorted(k for k in os.environ if k.startswith("NANO_MODAL")),
                  "agent_socket": os.path.exists("/run/nano-modal-agent/agent.sock")}))
"""

READ_FILES = r"""
import json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        out[path] = "read: " + (str(os.listdir(path)) if os.path.isdir(path) else open(path, "rb").read(64).hex())
    except OSError as exc:
        out[path] = f"denied: {type(exc).__name__}"
print(json.dumps(out))
"""

REACH = r"""
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()
    print("connected")
except OSError as exc:
    print(f"failed: {exc}")
"""

PROCESSES = r"""
import json, os
found = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            found.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode())
        except OSError:
            pass
print(json.dumps(found))
"""

DRIVER = """
import io, json, sys, threading, time, nano_modal
server, state, python, scripts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
app = nano_modal.App("sandbox-runtime")
out = {}

@app.function(serialized=True)
def warm(x):
    return x

def run(sb, *cmd, **kw):
    p = sb.exec(*cmd, **kw)
    return {"stdout": p.stdout.read(), "stderr": p.stderr.read(), "code": p.wait()}
with app.run(show_logs=False):
    sb = nano_modal.Sandbox.create(app=app, timeout=300)
    out["echo"] = run(sb, "bash", "-c", "echo hi; exit 4")
    p = sb.exec("cat")
    p.stdin.write("round trip\\n"); p.stdin.write_eof(); p.stdin.drain()
    out["stdin"] = p.stdout.read()
    with sb.open("/tmp/f.txt", "w") as f:
        f.write("file body")
    out["file"] = sb.open("/tmp/f.txt").read()
    out["ls"] = sb.ls("/tmp")
    sb.filesystem.make_directory("/tmp/w")  # a watch (inotify in the agent) of the runtime's filesystem
    seen = []
    def follow():
        for e in sb.filesystem.watch("/tmp/w", timeout=120):
            seen.append([e.type.value, e.paths])
            if e.paths == ["/tmp/w/x"]:
                break
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    n = 0
    while not seen and n < 300:  # until the watch reports a file: it is watching from then on
        n += 1
        sb.filesystem.write_text("", f"/tmp/w/ready-{n}")
        time.sleep(0.2)
    sb.filesystem.write_text("x", "/tmp/w/x")
    follower.join(60)
    out["watch"] = [s for s in seen if "ready-" not in s[1][0]]
    out["timeout"] = sb.exec("sleep", "30", timeout=0.5).wait()
    other = nano_modal.Sandbox.create("sleep", "4242", app=app)
    out["steal"] = json.loads(run(sb, python, "-c", scripts["steal"], server)["stdout"] or "{}")
    paths = ["/root", "/root/.nano-modal", "/home", "/etc/shadow", state, state + "/server.log"]
    out["read"] = json.loads(run(sb, python, "-c", scripts["read"], *paths)["stdout"])
    out["processes"] = json.loads(run(sb, python, "-c", scripts["processes"])["stdout"])
    out["reach_open"] = run(sb, python, "-c", scripts["reach"], server.rsplit(":", 1)[1])["stdout"]
    blocked = nano_modal.Sandbox.create(app=app, block_network=True)
    out["reach_blocked"] = run(blocked, python, "-c", scripts["reach"], server.rsplit(":", 1)[1])["stdout"]
    out["interfaces"] = run(blocked, "cat", "/proc/net/dev")["stdout"]
    for s in (sb, other, blocked):
        s.terminate()
    sb.wait(raise_on_termination=False)
    out["returncode"] = sb.returncode
    assert warm.remote(1) == 1  # and now exec into that function's container
    from nano_modal._utils.aio import run_blocking
    from nano_modal.client import Client
    from nano_modal.proto import api_pb2
    listed = run_blocking(run_blocking(Client.get()).stub.ContainerList(api_pb2.ContainerListRequest()))
    function_container = next(c.container_id for c in listed.containers if c.function_name == "warm")
    out["function_exec"] = run(nano_modal.Sandbox(function_container), "bash", "-c", "echo $NANO_MODAL_CONTAINER_ID")
    out["function_container"] = function_container
    assert warm.remote(2) == 2  # the function still serves
    main = nano_modal.Sandbox.create("bash", "-c", "echo from main; exit 9", app=app)
    main.wait()
    out["main"] = [main.returncode, main.stdout.read()]
    with nano_modal.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"in the volume"), "/in.txt")
        with_volume = nano_modal.Sandbox.create(app=app, volumes={"/data": vol})
        out["volume_in"] = run(with_volume, "cat", "/data/in.txt")["stdout"]
        run(with_volume, "bash", "-c", "echo out > /data/out.txt")
        with_volume.terminate()
        with_volume.wait(raise_on_termination=False)
        out["volume_out"] = b"".join(vol.read_file("out.txt")).decode()
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def results(
    request: pytest.FixtureRequest, isolated_cluster: Callable[..., Cluster], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    require(request.param)
    cluster = isolated_cluster(request.param)
    import sys

    scripts = {"steal": STEAL_TOKEN, "read": READ_FILES, "reach": REACH, "processes": PROCESSES}
    args = [cluster.server_url, str(cluster.state_dir), sys.executable, json.dumps(scripts)]
    proc = run_script(tmp_path_factory.mktemp(f"sb-{request.param}"), DRIVER, *args, env=cluster.env(), timeout=240)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    found: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return found


def test_exec_stdin_files_and_timeouts_work(results: dict[str, Any]) -> None:
    assert results["echo"] == {"stdout": "hi\n", "stderr": "", "code": 4}
    assert results["stdin"] == "round trip\n"
    assert results["file"] == "file body" and "f.txt" in results["ls"]
    assert results["timeout"] == 124
    assert results["returncode"] == 137
    assert results["main"] == [9, "from main\n"]
    assert results["volume_in"] == "in the volume" and results["volume_out"] == "out\n"


def test_watch_sees_the_sandboxs_files_change(results: dict[str, Any]) -> None:
    assert results["watch"][0] == ["Create", ["/tmp/w/x"]]


def test_exec_into_a_function_container(results: dict[str, Any]) -> None:
    assert results["function_exec"] == {"stdout": results["function_container"] + "\n", "stderr": "", "code": 0}


def test_no_credential_inside_opens_the_admin_api(results: dict[str, Any]) -> None:
    steal = results["steal"]
    assert steal["tried"] > 10, steal  # it did look around
    # Each try fails as UNAVAILABLE now: a sandbox's network has no route to the server at all.
    assert [a for a in steal["accepted"] if not a.endswith("StatusCode.UNAVAILABLE")] == [], steal
    assert "NANO_MODAL_TOKEN" not in steal["env"] and "NANO_MODAL_SERVER_URL" not in steal["env"]
    assert steal["agent_socket"] is False  # unlinked once the agent connected


def test_host_files_are_not_visible(results: dict[str, Any]) -> None:
    outcomes = dict(results["read"])
    # /root exists only as the way to the worker's Python when it lives there (/root/.pyenv).
    assert outcomes.pop("/root") in ("denied: FileNotFoundError", "read: ['.pyenv']")
    for path, outcome in outcomes.items():
        assert outcome.startswith("denied"), f"{path}: {outcome}"


def test_other_sandboxes_processes_are_not_visible(results: dict[str, Any]) -> None:
    processes = results["processes"]
    assert any("sandbox_agent" in p for p in processes), processes
    assert not any("4242" in p for p in processes), processes
    assert not any("nano_modal.worker" in p or "nano_modal.server" in p for p in processes), processes


def test_the_servers_port_is_out_of_reach_with_or_without_network(results: dict[str, Any]) -> None:
    # Every sandbox has a network of its own (tests/security: a listener sees no connection).
    assert results["reach_open"].startswith("failed"), results["reach_open"]
    assert results["reach_blocked"].startswith("failed"), results["reach_blocked"]
    interfaces = [line.split(":")[0].strip() for line in results["interfaces"].splitlines()[2:]]
    assert interfaces in ([], ["lo"]), interfaces
