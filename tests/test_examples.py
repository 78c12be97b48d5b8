"""Every example runs, as a user would run it, on the embedded default (no server set up)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.helpers import wait_for
from tests.security._peer import web_site

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_embedded(
    args: list[str], home: Path, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`env`: variables on top of this process's own."""
    env = {**os.environ, **(env or {})}
    env = {k: v for k, v in env.items() if k not in ("NANO_MODAL_SERVER_URL", "NANO_MODAL_TOKEN")}
    env["NANO_MODAL_HOME"] = str(home)
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=EXAMPLES.parent)
    assert result.returncode == 0, f"{args} failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def nano_modal_run(example: str, home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    cli = [sys.executable, "-m", "nano_modal.cli", "run", str(EXAMPLES / example), *args]
    return run_embedded(cli, home, env=env).stdout


def test_hello_world(tmp_path: Path) -> None:
    out = nano_modal_run("hello_world.py", tmp_path, "--n", "5")
    assert "square(7) = 49" in out
    assert "sum of squares below 5 = 30" in out
    assert "app hello-world is ephemeral with functions ['square']" in out
    assert "from square's logs: ['squaring 7 in a container (local=False)']" in out
    # What the function printed reaches the caller, marked with where it came from.
    assert "[square " in out and "in a container (local=False)" in out
    # What square(7) printed comes before its caller prints the result (container/log_sync.py).
    lines = out.splitlines()
    assert min(i for i, x in enumerate(lines) if "squaring 7 " in x) < lines.index("square(7) = 49"), out


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 for a netns")
def test_quickstart_seed_as_plain_script(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(b"<html>" + b"x" * 1250 + b"</html>")
    with web_site(site) as url:  # "the internet": a peer in a namespace of the test's own
        out = run_embedded([sys.executable, str(EXAMPLES / "quickstart_seed.py"), url], tmp_path).stdout
    lines = [line for line in out.splitlines() if not line.startswith("[fetch ")]
    assert lines[0] == "1263"
    assert lines[1] == str([1263] * 10)


def test_parallel_map(tmp_path: Path) -> None:
    out = nano_modal_run("parallel_map.py", tmp_path, "--n", "2000")
    assert f"sum of cubes below 2000: {sum(x**3 for x in range(2000))}" in out
    assert "powers: [1024, 81, 1000]" in out
    assert "with return_exceptions: [1.0, 'ZeroDivisionError', 0.25]" in out
    assert "for_each done" in out


def test_spawn_and_poll(tmp_path: Path) -> None:
    out = nano_modal_run("spawn_and_poll.py", tmp_path)
    expected_lines = ("not ready yet", "result: 5", "its logs: ['adding 2 and 3']", "cancelled")
    for expected in (*expected_lines, "spawn_map: [0, 2, 4, 6, 8]"):
        assert expected in out


def test_stats_and_call_graphs(tmp_path: Path) -> None:
    out = nano_modal_run("stats_and_call_graphs.py", tmp_path)
    for expected in (
        "pipeline: 80",
        "resize: 4 succeeded, 1 failed",
        "resize ran its inputs for at least 0.05 s each: True",
        "successful calls in the window: 4",
        "calls by function: {'pipeline': 1, 'resize': 5}",
        "call graph:\npipeline: SUCCESS\n" + "  resize: SUCCESS\n" * 4,
    ):
        assert expected in out, out


def test_streaming_and_async(tmp_path: Path) -> None:
    out = nano_modal_run("streaming_and_async.py", tmp_path)
    got = [line for line in out.splitlines() if line.startswith("got ")]
    assert [line.split()[1] for line in got] == ["3", "2", "1"]
    for expected in ("await remote.aio: HELLO", "async map: ['A', 'B', 'C']", "spawn.aio + get.aio: LATER"):
        assert expected in out


def test_errors_and_retries(tmp_path: Path) -> None:
    out = nano_modal_run("errors_and_retries.py", tmp_path)
    assert "ValueError came back: invalid literal" in out
    assert "succeeded on attempt 3" in out
    assert "timeout: too_slow timed out after 1s" in out
    assert "crash: the container running crash exited with code 3" in out


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["version"], ["token", "--help"]])
def test_cli_help(args: list[str], tmp_path: Path) -> None:
    out = run_embedded([sys.executable, "-m", "nano_modal.cli", *args], tmp_path).stdout
    assert "nano-modal" in out or "Usage" in out


def test_classes_and_batching(tmp_path: Path) -> None:
    out = nano_modal_run("classes_and_batching.py", tmp_path)
    assert "['hello', 'remote', 'world']" in out
    assert "french tokenizer (lowercase=False)" in out
    assert "['Bonjour', 'Le', 'Monde']" in out
    # Concurrency shown by the inputs themselves, not by the clock (a loaded machine is slow).
    at_once = int(out.split("up to ")[1].split(" at once")[0])
    assert at_once >= 2, out
    assert "batched results: [1, 2, 3, 1, 2, 3] ... 30 in all" in out
    assert "embedding a batch of 16" in out
    assert "batched method: [10, 20, 30]" in out


def test_websockets_and_web_server(tmp_path: Path) -> None:
    out = nano_modal_run("websockets_and_web_server.py", tmp_path)
    assert "HELLO!\nWEBSOCKETS!" in out
    assert "{'ok': True, 'served_by': 'http.server'}" in out
    assert "through the tunnel: 200 True\ntunnel closed" in out  # modal.forward


def test_server_app(tmp_path: Path) -> None:
    out = nano_modal_run("server_app.py", tmp_path)
    assert "status.json: {'ok': True, 'served_by': 'http.server'}" in out
    assert "port 8093, unauthenticated True" in out
    assert "missing.json: 404\nrequests by status: {200: 1, 404: 1} | containers: 1" in out  # Server.stats
    assert "autoscaler: min 1, max 2" in out and "settings read back: True" in out
    assert "one session, one container: ['1', '2', '3']" in out


def test_untrusted_code_blocks(tmp_path: Path) -> None:
    out = nano_modal_run("untrusted_code_blocks.py", tmp_path)
    assert '{"workspace": "acme", "result": 42, "runs_here": 1}' in out
    assert '{"workspace": "globex", "result": 6, "runs_here": 1}' in out  # its own container pool
    assert "refused: BlockExecutor runs with restrict_modal_access=True" in out
    assert "the block raised Boom: caught (not unpickled here)" in out
    assert "caller pwned" not in out


def test_web_endpoints(tmp_path: Path) -> None:
    out = nano_modal_run("web_endpoints.py", tmp_path)
    assert '{"greeting":"hello nano"}' in out
    assert '{"item":21,"double":42}' in out
    assert "served by a WSGI app" in out
    assert '{"shout":"NANO!!"}' in out


def test_deploy_and_call(cluster: Cluster, tmp_path: Path) -> None:
    env = cluster.env()
    cli = [sys.executable, "-m", "nano_modal"]  # the module entry, as tools run `python -m modal deploy`
    deployed = subprocess.run(
        [*cli, "deploy", str(EXAMPLES / "deploy_and_call.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "deployed deployed-demo as v" in deployed.stdout
    code = (
        "import nano_modal\n"
        "print(nano_modal.Function.from_name('deployed-demo', 'add').remote(2, 3))\n"
        "print(nano_modal.Cls.from_name('deployed-demo', 'Counter')(start=2).count_to.remote(5))\n"
        "info = nano_modal.App.lookup('deployed-demo').info()\n"
        "print(info.lifecycle.state.value, ' '.join(sorted(info.functions)))\n"
        "print('tags:', nano_modal.App.lookup('deployed-demo').get_tags())\n"
        "print(nano_modal.Function.from_name('deployed-demo', 'add', version=info.lifecycle.version).remote(1, 1))\n"
        "try:\n"
        "    nano_modal.Cls.from_name('deployed-demo', 'Counter', version=999)().count_to.remote(1)\n"
        "except nano_modal.exception.InvalidError as exc:\n"
        "    print('pinned:', 'not v999' in str(exc))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    expected = ["5", "[2,", "3,", "4]", "deployed", "Counter", "add", "heartbeat", "monthly_report"]
    expected += ["tags:", "{'team':", "'demo'}"]  # App(tags=), kept by the server
    expected += ["2", "pinned:", "True"]  # from_name(version=): the current one works, another is refused
    assert out.stdout.split() == expected, out.stdout + out.stderr

    def logs() -> str:
        return subprocess.run(
            [*cli, "app", "logs", "deployed-demo"], env=env, capture_output=True, text=True, timeout=60
        ).stdout

    assert wait_for(lambda: "scheduled run at" in logs(), timeout=30, interval=1.0), logs()
    subprocess.run([*cli, "app", "stop", "deployed-demo"], env=env, check=True, timeout=60, capture_output=True)


def test_dict_and_queue(tmp_path: Path) -> None:
    out = nano_modal_run("dict_and_queue.py", tmp_path)
    assert "fib(90) = 2880067194370816120" in out
    assert "fib(90) again, from the cache: 2880067194370816120 (1 cached)" in out
    assert "the same Dict by its id: 2880067194370816120" in out
    assert "the counters' client is the process's: True" in out
    assert "every job claimed exactly once: True" in out
    assert f"20 jobs handled; sum of squares = {sum(i * i for i in range(20))}" in out
    assert "results left in the queue: 0" in out
    assert "partitions: 0 1 1" in out
    assert "after its partition_ttl: 0" in out
    assert "runs of this example recorded on this server: 1" in out


def test_volumes_and_secrets(tmp_path: Path) -> None:
    out = nano_modal_run("volumes_and_secrets.py", tmp_path)
    assert "a container sees: ['day-1.txt', 'day-2.txt']" in out
    assert "day 2: threshold=0.75, authenticated with a 16-character token" in out
    assert "t0p-s3cret-t0ken" not in out  # the secret's value is never printed
    assert "after archiving: ['archive/day-1.txt', 'inputs/config.txt', 'reports/day-2.txt']" in out
    assert "renamed, still holds: ['reports/day-2.txt']" in out


def test_sandbox(tmp_path: Path) -> None:
    out = nano_modal_run("sandbox.py", tmp_path)
    assert "streamed: tick 1\nstreamed: tick 2\nstreamed: tick 3\nexit code: 0\nprinted directly\n" in out
    assert "running total: 42" in out
    assert "files: ['report.txt'] -> report" in out
    assert "mounted: ['report.txt'] -> report" in out  # snapshot_directory, then mount_image
    assert "after unmount_image: []" in out
    assert "tokens visible inside: [] | network: blocked" in out
    assert "found by tag: True | by name: <nano_modal.Sandbox sb-" in out
    assert "watched: Create of a step: True\nterminated, returncode 137" in out  # filesystem.watch
    assert "ran: True | billed core-seconds: True" in out  # Sandbox._experimental_stats
    assert "job's logs: ['job done']" in out  # Sandbox.logs: the entrypoint's output
    assert "through the tunnel: served from a sandbox" in out  # encrypted_ports and tunnels()
    assert "connect token: 200 | without: 401" in out  # create_connect_token


def test_sandbox_script_with_app_lookup(tmp_path: Path) -> None:
    out = run_embedded([sys.executable, str(EXAMPLES / "sandbox_script.py")], tmp_path).stdout
    assert out.splitlines()[:4] == ["hello", "line 1", "line 2", "line 3"], out
    assert "same app when looked up again: True" in out
    assert "missing: no deployed app named 'no-such-app'" in out


def test_images(tmp_path: Path) -> None:
    # Built images are shared through NANO_MODAL_IMAGES_DIR (conftest.py): a cache hit after the first run.
    out = nano_modal_run("images.py", tmp_path)
    assert "greeting: hello from the image" in out and "cwd: /srv/app" in out and "mounted: True" in out
    assert "built: True" in out and "flavor: dockerfile" in out
    if "debian: " in out:  # an isolating runtime (bwrap): the image's own Python, not the worker's
        assert "python: /usr/bin/python3" in out
        assert "weights: weights v1" in out  # run_function(volumes=) at build time
        assert "idna: 3.3" in out  # uv_sync followed examples/uv_project/uv.lock
        assert "from the snapshot: tuned" in out
        if os.geteuid() == 0:  # a root worker: container root has host uids of its own, and users work
            assert "a user of its own: app" in out
        assert "by name: weights v1" in out  # Image.publish, then Image.from_name


def test_script_app_as_plain_script(tmp_path: Path) -> None:
    """`python app.py`: the file is imported in the container (its module-level code runs there,
    functions call their siblings), returned exceptions come back returned, modal.Error catches."""
    out = run_embedded([sys.executable, str(EXAMPLES / "script_app.py")], tmp_path).stdout
    assert '{"sum_of_squares": 14, "module_code_ran": "in a container"}' in out
    assert "returned, not raised: ValueError(-1 is negative)" in out
    assert "caught modal.Error: NotFoundError" in out
    assert "import modal in a container: nano_modal, in a child process nano_modal" in out


def test_ephemeral_disk(tmp_path: Path) -> None:
    done = run_embedded([sys.executable, "-m", "nano_modal.cli", "run", str(EXAMPLES / "ephemeral_disk.py")], tmp_path)
    out = done.stdout
    assert "16 MiB: wrote 16 MiB" in out, out
    if os.geteuid() == 0 and "runtime bwrap" in done.stderr:  # disks are a root worker's (worker/disks.py)
        assert "100 MiB: stopped after" in out and "No space left on device" in out, out
    else:
        assert "100 MiB: wrote 100 MiB" in out, out


def test_memory_limits(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "nano_modal.cli", "run", str(EXAMPLES / "memory_limits.py")]
    done = run_embedded(cli, tmp_path, env={"NANO_MODAL_CONTAINER_MEMORY_MB": "128"})
    out = done.stdout
    assert "own limit, 300 MiB: held 300 MiB" in out, out
    if "run without cpu/memory/pids limits" in done.stderr:  # no writable cgroups (worker/cgroups.py)
        assert "worker's default, 300 MiB: held 300 MiB" in out, out
        return
    assert "own limit, 800 MiB failed:" in out and "out of memory: limit 512 MiB" in out, out
    assert "worker's default, 300 MiB failed:" in out, out
    assert "out of memory: limit 128 MiB, the worker's default NANO_MODAL_CONTAINER_MEMORY_MB" in out, out


def test_cloud_bucket_mount(tmp_path: Path) -> None:
    from tests import s3d

    if not s3d.available():
        pytest.skip(s3d.SKIP_REASON)
    with s3d.s3_server(tmp_path) as s3:
        s3.client().create_bucket(Bucket="example-bucket")
        env = {**s3.credentials(), "BUCKET": "example-bucket", "BUCKET_ENDPOINT_URL": s3.url}
        out = nano_modal_run("cloud_bucket_mount.py", tmp_path, env=env)
    assert "total of the bucket's inputs: 40" in out
    assert "reports/daily/total.txt: total=40" in out
    assert "objects now: ['inputs/a.csv', 'inputs/b.csv', 'reports/daily/total.txt']" in out


def test_registry_mirror(tmp_path: Path) -> None:
    """Docker Hub's python:3.12-slim from a loopback mirror holding a small stand-in (tests/worker/oci_fixtures)."""
    from nano_modal.worker.images import deps
    from tests.worker.oci_fixtures import BUSYBOX, HOST_PYTHON, Registry, make_python_image
    from tests.worker.test_oci import _shared_objects

    if shutil.which("docker-registry") is None or not HOST_PYTHON.exists() or not BUSYBOX:
        pytest.skip("needs docker-registry, Debian's python3.11 and busybox")
    (tmp_path / "registry").mkdir()
    mirror = Registry.start(tmp_path / "registry")
    try:
        runtime_libs = [p for name in deps.closure() for p in _shared_objects(name)]  # the SDK's grpc needs them
        mirror.push(make_python_image(runtime_libs), "library/python", "3.12-slim")
        # Images of their own: the base is pulled (a shared cache may hold another python:3.12-slim)
        env = {
            "NANO_MODAL_REGISTRY_MIRRORS": f"docker.io={mirror.url}",
            "NANO_MODAL_IMAGES_DIR": str(tmp_path / "images"),
        }
        cli = [sys.executable, "-m", "nano_modal.cli", "run", str(EXAMPLES / "registry_mirror.py")]
        done = run_embedded(cli, tmp_path / "home", env=env)
    finally:
        mirror.stop()
    assert "STEP: added on top" in done.stdout, done.stdout
    if "runtime bwrap" in done.stderr or "runtime gvisor" in done.stderr:  # they build images: from the mirror
        assert "python: /usr/bin/python3" in done.stdout  # the stand-in's Debian python3, not Docker Hub's image
        assert f"pulling from mirror {mirror.url} (mirror of registry-1.docker.io)" in done.stderr
