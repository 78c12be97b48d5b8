"""`modal run` with the real client from PyPI runs an app on nano-modal (issue 15, first step)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
import pytest

from tests.conftest import REPO
from tests.modal_compat.conftest import ModalCluster

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; each `modal run` starts containers")

EXAMPLE = REPO / "examples" / "modal_client_app.py"  # the program users are shown


def write_app(directory: Path, source: str) -> Path:
    path = directory / "app.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_modal_run_remote_and_map(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "remote: 9" in run.stdout
    assert f"map: {[x * x for x in range(10)]}" in run.stdout
    assert "caught: raised in the container" in run.stdout
    assert "squaring 3" in run.stdout + run.stderr  # the container's output, streamed to the terminal


def test_wrong_token_pair_is_named(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path, token_secret="not-the-token")
    assert run.returncode != 0
    assert "token pair is not valid on this server" in run.stdout + run.stderr


def test_method_not_served_is_named(modal_cluster: ModalCluster) -> None:
    channel = grpc.insecure_channel(modal_cluster.server_url)
    method = channel.unary_unary("/modal.client.ModalClient/WorkspaceNameLookup")
    metadata = (("x-modal-token-id", "nm"), ("x-modal-token-secret", modal_cluster.token))
    with pytest.raises(grpc.RpcError) as raised:
        method(b"", metadata=metadata, timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "nano-modal does not serve ModalClient/WorkspaceNameLookup yet" in (raised.value.details() or "")
    channel.close()


SPAWN_APP = """
import modal

app = modal.App("nano-compat-spawn")


@app.function()
def square(x):
    return x * x


@app.local_entrypoint()
def main():
    call = square.spawn(7)
    print("get:", call.get())
    print("from_id:", modal.FunctionCall.from_id(call.object_id).get())
    print("gather:", modal.FunctionCall.gather(*[square.spawn(i) for i in range(3)]))
    print("starmap:", list(square.starmap([(1,), (2,)])))
"""


def test_spawn_and_function_call_get(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, SPAWN_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("get: 49", "from_id: 49", "gather: [0, 1, 4]", "starmap: [1, 4]"):
        assert line in run.stdout


DEPLOYED_APP = """
import modal

app = modal.App("nano-compat-deployed")


@app.function()
def cube(x):
    return x ** 3 + OFFSET


OFFSET = {offset}
"""

CALLER = """
import modal

cube = modal.Function.from_name("nano-compat-deployed", "cube")
print("remote:", cube.remote(4))
print("map:", list(cube.map([1, 2])))
"""


def test_deploy_then_from_name_in_another_process(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    (tmp_path / "caller.py").write_text(CALLER)
    python = str(modal_cluster.venv / "bin" / "python")
    for offset in (0, 1000):  # a second deployment replaces the code behind the same name
        write_app(tmp_path, DEPLOYED_APP.format(offset=offset))
        deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        call = subprocess.run(
            [python, "caller.py"],
            cwd=tmp_path,
            env=modal_cluster.modal_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert call.returncode == 0, call.stdout + call.stderr
        assert f"remote: {64 + offset}" in call.stdout
        assert f"map: {[1 + offset, 8 + offset]}" in call.stdout
    listed = modal_cluster.modal("app", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    apps = [a for a in json.loads(listed.stdout) if a["description"] == "nano-compat-deployed"]
    assert [a["state"] for a in apps] == ["deployed"]  # one app, deployed twice: no stray app per deploy
    # `modal deploy` links the app's page: the dashboard's, on the server's HTTP gateway.
    assert re.search(rf"View Deployment: http://\S+/_/apps/{apps[0]['app_id']}\s", deploy.stdout), deploy.stdout


DICT_APP = """
import modal

app = modal.App("nano-compat-dict")
d = modal.Dict.from_name("compat-dict", create_if_missing=True)


@app.function()
def store(k, v):
    d[k] = v
    return d.len()


@app.local_entrypoint()
def main():
    d.clear()
    print("len after:", store.remote("a", 1), store.remote("b", [2, 3]))
    print("read locally:", d["a"], d.get("b"), "c" in d, sorted(d.keys()))
    with modal.Dict.ephemeral() as e:
        e["x"] = 42
        print("ephemeral:", e["x"], e.len())
"""


def test_dict_from_name_shared_with_containers(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, DICT_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "len after: 1 2" in run.stdout
    assert "read locally: 1 [2, 3] False ['a', 'b']" in run.stdout
    assert "ephemeral: 42 1" in run.stdout


def test_unsupported_client_version_is_named(modal_cluster: ModalCluster) -> None:
    channel = grpc.insecure_channel(modal_cluster.server_url)
    method = channel.unary_unary("/modal.client.ModalClient/ClientHello")
    metadata = (
        ("x-modal-token-id", "nm"),
        ("x-modal-token-secret", modal_cluster.token),
        ("x-modal-client-version", "0.73.1"),
    )
    with pytest.raises(grpc.RpcError) as raised:
        method(b"", metadata=metadata, timeout=30)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "serves modal 1.5.x or modal 1.6.x clients; this client is 0.73.1" in (raised.value.details() or "")
    channel.close()


BIG_APP = """
import hashlib
import modal

app = modal.App("nano-compat-big")


@app.function()
def digest_and_reverse(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data[::-1]


@app.local_entrypoint()
def main():
    data = bytes(range(256)) * (5 * 1024 * 1024 // 256)  # 5 MiB: over the 2 MiB inline limit, both ways
    remote_digest, reversed_data = digest_and_reverse.remote(data)
    print("digest matches:", remote_digest == hashlib.sha256(data).hexdigest())
    print("reversed matches:", reversed_data == data[::-1])
"""


def test_payloads_over_2_mib_go_through_blobs(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, BIG_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "digest matches: True" in run.stdout
    assert "reversed matches: True" in run.stdout


GENERATOR_AND_RETRIES_APP = """
import modal

app = modal.App("nano-compat-gen-retries")
attempts = modal.Dict.from_name("compat-retry-attempts", create_if_missing=True)


@app.function()
def count(n):
    for i in range(n):
        yield i * 10


@app.function(retries=modal.Retries(max_retries=2, initial_delay=0.1, backoff_coefficient=1.0))
def flaky(key):
    n = attempts.get(key, 0) + 1
    attempts[key] = n
    if n < 3:
        raise RuntimeError(f"attempt {n} fails")
    return f"{key} succeeded on attempt {n}"


@app.local_entrypoint()
def main():
    attempts.clear()
    print("generator:", list(count.remote_gen(5)))
    print("empty generator:", list(count.remote_gen(0)))
    print("retried:", flaky.remote("a"))
    print("retried map:", list(flaky.map(["b", "c"])))
"""


def test_generators_and_retries(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, GENERATOR_AND_RETRIES_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "generator: [0, 10, 20, 30, 40]" in run.stdout
    assert "empty generator: []" in run.stdout
    assert "retried: a succeeded on attempt 3" in run.stdout  # two failures, retried by the server
    assert "retried map: ['b succeeded on attempt 3', 'c succeeded on attempt 3']" in run.stdout


TIMEOUT_APP = """
import time
import modal

app = modal.App("nano-compat-timeout")


@app.function(timeout=3)
def too_slow():
    time.sleep(60)  # returns after a minute where timeouts are not enforced


@app.local_entrypoint()
def main():
    try:
        too_slow.remote()
    except modal.exception.FunctionTimeoutError as exc:
        print("timed out:", exc)
"""


def test_timeout_stops_the_input(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, TIMEOUT_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "timed out: the input ran past the function's timeout of 3 s" in run.stdout


SECRET_APP = """
import os
import modal

app = modal.App("nano-compat-secret")


@app.function(secrets=[modal.Secret.from_name("compat-secret"), modal.Secret.from_dict({"INLINE": "from-dict"})])
def read_env():
    return os.environ.get("TOKEN"), os.environ.get("INLINE")


@app.local_entrypoint()
def main():
    print("env:", read_env.remote())
"""


def test_secrets_from_name_and_from_dict(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    create = modal_cluster.modal("secret", "create", "--force", "compat-secret", "TOKEN=s3cret", cwd=tmp_path)
    assert create.returncode == 0, create.stdout + create.stderr
    write_app(tmp_path, SECRET_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "env: ('s3cret', 'from-dict')" in run.stdout


RESPONSE_TYPES_CHECK = """
import inspect
from modal_proto import api_pb2
from nano_modal.server.modal_compat.service import ModalService

methods = api_pb2.DESCRIPTOR.services_by_name["ModalClient"].methods_by_name
for name, fn in inspect.getmembers(ModalService):
    source = inspect.getsource(fn) if name[0].isupper() else ""
    if "return" in source or "yield" in source:  # (a method with neither only refuses)
        answers_empty = "self.proto.empty()" in source
        if answers_empty != (methods[name].output_type.name == "Empty"):
            print("wrong response type:", name, "answers", methods[name].output_type.name)
print("checked")
"""


def test_each_served_method_answers_its_response_type(modal_cluster: ModalCluster) -> None:
    """A method answering Empty where Modal's protocol has a response message (or the other way
    round) fails only when its answer is serialized: checked here for every served method."""
    check = subprocess.run(
        [str(modal_cluster.venv / "bin" / "python"), "-c", RESPONSE_TYPES_CHECK],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.stdout.strip() == "checked", check.stdout + check.stderr


QUEUE_APP = """
import modal

app = modal.App("nano-compat-queue")
q = modal.Queue.from_name("compat-queue", create_if_missing=True)


@app.function()
def produce(n):
    for i in range(n):
        q.put(i * i)
    q.put_many(["x", "y"], partition="side")
    return q.len()


@app.local_entrypoint()
def main():
    q.clear(all=True)
    print("produced, len:", produce.remote(4))
    print("got:", q.get(), q.get_many(3))
    print("side:", list(q.iterate(partition="side")), q.len(partition="side"))
    with modal.Queue.ephemeral() as e:
        e.put("hello")
        print("ephemeral:", e.get())
"""


def test_queue_from_name_shared_with_containers(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, QUEUE_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("produced, len: 4", "got: 0 [1, 4, 9]", "side: ['x', 'y'] 2", "ephemeral: hello"):
        assert line in run.stdout


CLS_APP = """
import modal

app = modal.App("nano-compat-cls")


@app.cls()
class Greeter:
    greeting: str = modal.parameter(default="hello")

    @modal.enter()
    def setup(self):
        self.suffix = "!"

    @modal.method()
    def greet(self, name):
        return f"{self.greeting} {name}{self.suffix}"


@app.local_entrypoint()
def main():
    print("default:", Greeter().greet.remote("ada"))
    print("param:", Greeter(greeting="hi").greet.remote("bob"))
    print("map:", list(Greeter().greet.map(["x", "y"])))
"""


def test_cls_with_parameters_and_enter(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, CLS_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("default: hello ada!", "param: hi bob!", "map: ['hello x!', 'hello y!']"):
        assert line in run.stdout


DEPLOYED_CLS_APP = """
import modal

app = modal.App("nano-compat-deployed-cls")


@app.cls()
class Counter:
    start: int = modal.parameter(default=0)

    @modal.method()
    def plus(self, x):
        return self.start + x
"""

CLS_CALLER = """
import modal

Counter = modal.Cls.from_name("nano-compat-deployed-cls", "Counter")
print("from_name cls:", Counter().plus.remote(2), Counter(start=100).plus.remote(2))
"""


def test_deployed_cls_from_name(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, DEPLOYED_CLS_APP)
    deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    (tmp_path / "caller.py").write_text(CLS_CALLER)
    call = modal_cluster.python("caller.py", cwd=tmp_path)
    assert call.returncode == 0, call.stdout + call.stderr
    assert "from_name cls: 2 102" in call.stdout


BROKEN_IMPORT_APP = """
import modal

app = modal.App("nano-compat-initfail")

if not modal.is_local():
    raise RuntimeError("broken at import in the container")


@app.function()
def f(x):
    return x


@app.local_entrypoint()
def main():
    try:
        f.remote(1)
    except RuntimeError as exc:
        print("raised:", exc)
"""


def test_import_failure_in_the_container_reaches_the_caller(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    """Without it, containers were restarted forever and the call never returned."""
    write_app(tmp_path, BROKEN_IMPORT_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "raised: broken at import in the container" in run.stdout


RESOURCES_APP = """
import modal

app = modal.App("nano-compat-resources")


@app.function(cpu=0.5, memory=512)
def fits(x):
    return x + 1


@app.function(memory=10_000_000)
def too_big(x):
    return x


@app.local_entrypoint()
def main():
    print("fits:", fits.remote(1))
    try:
        too_big.remote(1)
    except modal.exception.InvalidError as exc:
        print("unplaceable:", exc)
"""


def test_cpu_and_memory_reach_placement(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, RESOURCES_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fits: 2" in run.stdout
    assert "unplaceable: no worker can run too_big: it asks for cpu=0.25 and memory=10,000,000 MiB" in run.stdout


NANO_APP = """
import nano_modal

app = nano_modal.App("nano-native")


@app.function()
def double(x):
    return 2 * x
"""

NANO_CALLER = """
import nano_modal

try:
    nano_modal.Function.from_name("nano-compat-deployed", "cube").remote(2)
except nano_modal.exception.InvalidError as exc:
    print("refused:", exc)
"""

MODAL_CALLER = """
import modal

try:
    modal.Function.from_name("nano-native", "double").remote(2)
except modal.exception.ConflictError as exc:
    print("refused:", exc)
"""


def test_functions_of_the_other_sdk_are_refused_clearly(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    """A payload one SDK cannot read: a clear error on the caller's side, in both directions,
    and the function still serves its own SDK's callers afterwards."""
    nano_env = {
        **os.environ,
        "NANO_MODAL_SERVER_URL": modal_cluster.server_url,
        "NANO_MODAL_TOKEN": modal_cluster.token,
    }

    def nano(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=tmp_path, env=nano_env, capture_output=True, text=True, timeout=300
        )

    (tmp_path / "nano_app.py").write_text(NANO_APP)
    deployed = nano("-m", "nano_modal.cli", "deploy", "nano_app.py")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    write_app(tmp_path, DEPLOYED_APP.format(offset=0))
    deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    (tmp_path / "nano_caller.py").write_text(NANO_CALLER)
    from_nano = nano("nano_caller.py")
    assert "refused: this function was defined with the modal client" in from_nano.stdout, from_nano.stderr
    (tmp_path / "modal_caller.py").write_text(MODAL_CALLER)
    python = str(modal_cluster.venv / "bin" / "python")
    from_modal = subprocess.run(
        [python, "modal_caller.py"],
        cwd=tmp_path,
        env=modal_cluster.modal_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "refused: nano-modal: nano-native/double was deployed with the nano_modal SDK" in from_modal.stdout, (
        from_modal.stderr
    )
    (tmp_path / "caller.py").write_text(CALLER)
    still = subprocess.run(
        [python, "caller.py"], cwd=tmp_path, env=modal_cluster.modal_env(), capture_output=True, text=True, timeout=300
    )
    assert "remote: 64" in still.stdout, still.stdout + still.stderr


STOPPABLE_APP = """
import modal

app = modal.App("nano-compat-stoppable")


@app.function(scaledown_window=600)
def ping():
    return "pong"
"""

PING = """
import modal

print("ping:", modal.Function.from_name("nano-compat-stoppable", "ping").remote())
"""


def test_container_list_and_app_stop(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, STOPPABLE_APP)
    deploy = modal_cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    (tmp_path / "ping.py").write_text(PING)
    python = str(modal_cluster.venv / "bin" / "python")
    ping = subprocess.run(
        [python, "ping.py"], cwd=tmp_path, env=modal_cluster.modal_env(), capture_output=True, text=True, timeout=300
    )
    assert "ping: pong" in ping.stdout, ping.stdout + ping.stderr
    containers = modal_cluster.modal("container", "list", "--json", cwd=tmp_path)
    assert containers.returncode == 0, containers.stdout + containers.stderr
    assert "nano-compat-stoppable" in containers.stdout  # its container stays warm (scaledown_window)
    stop = modal_cluster.modal("app", "stop", "-y", "nano-compat-stoppable", cwd=tmp_path)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    listed = json.loads(modal_cluster.modal("app", "list", "--json", cwd=tmp_path).stdout)
    assert [a["state"] for a in listed if a["description"] == "nano-compat-stoppable"] == ["stopped"]


STOPPED_MID_MAP_APP = """
import os
import pathlib
import time

import modal

app = modal.App("nano-compat-stopped-mid-map")
MARKS = pathlib.Path({marks!r})


@app.function()
def slow_square(x):
    if x == 1 and not (MARKS / "stopped").exists():  # the first attempt at 1 waits to be stopped
        (MARKS / "running").write_text(os.environ["MODAL_TASK_ID"])
        time.sleep(120)
    return x * x


@app.local_entrypoint()
def main():
    print("map:", list(slow_square.map(range(3))))
"""


def test_a_container_stopped_mid_input_runs_it_again(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    """A Modal container the platform stops while it runs an input (here `nano-modal container
    stop`, the path a scale-down or eviction takes): its entrypoint turns the SIGTERM into
    KeyboardInterrupt, which failed the input (the caller raised KeyboardInterrupt and `modal run`
    ended quietly). The input runs again elsewhere and the map returns every result."""
    marks = tmp_path / "marks"
    marks.mkdir()
    write_app(tmp_path, STOPPED_MID_MAP_APP.format(marks=str(marks)))
    run = subprocess.Popen(
        [str(modal_cluster.venv / "bin" / "modal"), "run", "app.py"],
        cwd=tmp_path,
        env=modal_cluster.modal_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        running = marks / "running"
        for _ in range(1200):  # up to 120 s for the container to start and take input 1
            if running.exists() or run.poll() is not None:
                break
            time.sleep(0.1)
        assert running.exists(), "input 1 never started"
        container_id = running.read_text()
        (marks / "stopped").write_text("")  # its next attempt returns at once
        env = {**os.environ, "NANO_MODAL_SERVER_URL": modal_cluster.server_url, "NANO_MODAL_TOKEN": modal_cluster.token}
        stop = subprocess.run(
            [sys.executable, "-m", "nano_modal.cli", "container", "stop", container_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr
        out, _ = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, out
    assert "map: [0, 1, 4]" in out, out
