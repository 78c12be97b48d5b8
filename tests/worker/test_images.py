"""Image builds on the worker, for real: mmdebstrap, apt, pip from PyPI, overlayfs layers.

The Debian base is built once into the session's shared cache ($NANO_MODAL_IMAGES_DIR, see
conftest.py); later builds of it are cache hits. Tests that need a built image skip only
when the machine cannot build one at all (not root, no mmdebstrap or bwrap).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal import Image
from nano_modal.worker.images import deps
from nano_modal.worker.images.builder import ImageBuilder
from nano_modal.worker.images.overlay import run_in_root
from nano_modal.worker.images.rootfs import ImageRoot
from nano_modal.worker.images.steps import StepError
from nano_modal.worker.images.store import BuiltImage, Store
from tests.conftest import REPO, Cluster
from tests.helpers import run_script
from tests.worker._drive import require


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "building images needs root (overlayfs mounts, mmdebstrap)"
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("bwrap", "bubblewrap")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package}; scripts/test.sh does)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


class Blobs:
    """The blob store's two calls, in memory: these tests drive the builder without a server."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def upload_blob(self, data: bytes) -> str:
        blob_id = f"bl-{len(self.data)}"
        self.data[blob_id] = data
        return blob_id

    async def download_blob(self, blob_id: str) -> bytes:
        return self.data[blob_id]


@pytest.fixture(scope="session")
def store() -> Store:
    return Store(Path(os.environ["NANO_MODAL_IMAGES_DIR"]))


def build(store: Store, image: Image) -> tuple[BuiltImage, list[str]]:
    """Build `image` with a fresh builder (nothing remembered in memory); return it and its log."""
    blobs = Blobs()
    lines: list[str] = []

    async def go() -> BuiltImage:
        spec = await image.to_proto(blobs)  # type: ignore[arg-type]
        return await ImageBuilder(store).ensure(spec, blobs.download_blob, lines.append)

    return asyncio.run(go()), lines


def run(built: BuiltImage, command: str) -> str:
    """Run `command` in a fresh container root of `built`; its output."""
    root = ImageRoot(built, Path("/nonexistent"))
    merged = root.mount("test")
    try:
        out: list[str] = []
        code, _ = run_in_root(merged, command, built.state.env, built.state.workdir, out.append, 10)
        assert code == 0, out
        return "\n".join(out)
    finally:
        root.release()


@pytest.fixture(scope="session")
def local_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("local")
    (d / "config.txt").write_text("copied file\n")
    (d / "tree" / "sub").mkdir(parents=True)
    (d / "tree" / "a.txt").write_text("a\n")
    (d / "tree" / "sub" / "b.txt").write_text("b\n")
    (d / "tree" / "skip.log").write_text("ignored\n")
    return d


@pytest.fixture(scope="session")
def full_image(local_files: Path) -> Image:
    return (
        Image.debian_slim()
        .apt_install("jq")
        .pip_install("six")
        .run_commands("echo from-run > /run.txt", "jq --version > /jq-version.txt")
        .env({"STAGE": "built"})
        .workdir("/srv/work")
        .run_commands("pwd > here.txt; echo $STAGE > stage.txt")
        .add_local_file(local_files / "config.txt", "/etc/app/config.txt", copy=True)
        .add_local_dir(local_files / "tree", "/opt/tree", copy=True, ignore=["*.log"])
        .add_local_dir(local_files / "tree", "/mnt/tree")
    )


@pytest.fixture(scope="session")
def full_build(store: Store, full_image: Image) -> Iterator[tuple[BuiltImage, list[str]]]:
    yield build(store, full_image)


def test_steps_apply_in_the_image(full_build: tuple[BuiltImage, list[str]]) -> None:
    built, _ = full_build
    out = run(built, "python3 -c 'import six, sys; print(six.__version__, six.__file__, sys.version_info[:2])'")
    assert "/usr/local/lib/python3.11/dist-packages/six.py" in out and "(3, 11)" in out
    assert run(built, "cat /run.txt /jq-version.txt").splitlines() == ["from-run", "jq-1.6"]
    # env and workdir apply to the steps after them, and to containers.
    assert run(built, "cat /srv/work/here.txt /srv/work/stage.txt").splitlines() == ["/srv/work", "built"]
    assert built.state.env["STAGE"] == "built" and built.state.workdir == "/srv/work"
    assert run(built, "cat /etc/app/config.txt") == "copied file"
    assert run(built, "cd /opt/tree && find . -type f | sort").splitlines() == ["./a.txt", "./sub/b.txt"]
    # Without copy=True the directory is not in any layer: it is bound when containers start.
    assert run(built, "test -e /mnt/tree && echo present || echo absent") == "absent"
    [(source, remote)] = built.mounts
    assert remote == "/mnt/tree" and (source / "sub" / "b.txt").read_text() == "b\n"


def test_debian_slim_has_a_python_command(full_build: tuple[BuiltImage, list[str]]) -> None:
    """Modal's debian_slim (like python:*-slim) answers to `python`, which scripts and Makefiles call."""
    built, _ = full_build
    assert run(built, "python -c 'import sys; print(sys.version_info[:2])'") == "(3, 11)"


def test_unchanged_image_is_not_rebuilt(
    store: Store, full_image: Image, full_build: tuple[BuiltImage, list[str]]
) -> None:
    built, _ = full_build
    before = {p: p.stat().st_mtime_ns for p in (store.root / "layers").iterdir()}
    again, lines = build(store, full_image)
    steps = [line for line in lines if line.startswith(("Base ", "Step "))]
    assert len(steps) == 1 + len(full_image.steps)
    assert all(line.endswith(("(cached)", "(mounted when containers start)")) for line in steps), lines
    assert not any(line.startswith("  |") for line in lines)  # no command ran
    assert {p: p.stat().st_mtime_ns for p in (store.root / "layers").iterdir()} == before
    assert again.layers == built.layers and again.image_id == built.image_id


def test_shared_prefix_reuses_layers(store: Store, full_build: tuple[BuiltImage, list[str]]) -> None:
    """A different image with the same first step stores that step's layer once."""
    built, _ = full_build
    other, lines = build(store, Image.debian_slim().apt_install("jq").env({"OTHER": "1"}))
    assert other.layers[0] == built.layers[0]
    assert any(line.startswith("Step 1/2: apt_install jq (cached)") for line in lines)


def test_failed_step_leaves_no_layer_and_says_why(store: Store) -> None:
    layers_before = set((store.root / "layers").iterdir())
    with pytest.raises(StepError) as info:
        build(store, Image.debian_slim().run_commands("echo making progress; echo broken-step >&2; exit 3"))
    message = str(info.value)
    assert "run_commands" in message and "exit code 3" in message
    assert "command: echo making progress; echo broken-step >&2; exit 3" in message
    assert "broken-step" in message  # the tail of its output
    assert set((store.root / "layers").iterdir()) == layers_before
    assert not any("broken-step" in " ".join(rec["steps"]) for rec in store.records())  # not listed
    assert not [p for p in (store.root / "tmp").iterdir() if "broken" in p.name]
    assert list((store.root / "tmp").iterdir()) == []


def test_pip_failure_names_the_package(store: Store) -> None:
    with pytest.raises(StepError, match="pip_install nano-modal-no-such-package-x7"):
        build(store, Image.debian_slim().pip_install("nano-modal-no-such-package-x7"))


def test_image_list_rm_and_prune(store: Store, full_build: tuple[BuiltImage, list[str]]) -> None:
    built, _ = full_build
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "nano_modal.cli", "image"]
    listed = subprocess.run([*cli, "list", "--json"], env=env, capture_output=True, text=True, check=True).stdout
    rows = {row["image_id"]: row for row in json.loads(listed)}
    assert rows[built.image_id]["base"].startswith("debian bookworm")
    assert rows[built.image_id]["size"] > 0
    # A throwaway image: removing its record and pruning frees its own layer, not shared ones.
    throwaway, _ = build(store, Image.debian_slim().run_commands("echo throwaway > /t.txt"))
    own_layer = throwaway.layers[-1].parent
    rm = subprocess.run([*cli, "rm", throwaway.image_id], env=env, capture_output=True, text=True)
    assert rm.returncode == 0, rm.stderr
    assert own_layer.exists()  # rm forgets the image; prune frees what nothing uses
    prune = subprocess.run([*cli, "prune"], env=env, capture_output=True, text=True, check=True)
    assert not own_layer.exists() and "freed" in prune.stdout
    assert all(layer.exists() for layer in built.layers)
    missing = subprocess.run([*cli, "rm", "im-000000000000000000000000"], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "no image im-000000000000000000000000" in missing.stderr


DRIVER = """
import json
import time
from pathlib import Path
import nano_modal
from tests.apps import image_app as a

seed = Path("seed.txt")
seed.write_text("seed-" + str(time.time()))
with a.cache.batch_upload(force=True) as batch:
    batch.put_file(seed, "/seed.txt")
with a.app.run(show_logs=True):
    out = {"where": a.where.remote(), "host": a.host.remote(), "secret": a.built_with_secret.remote()}
    out["seed"] = seed.read_text()
    out["volume"] = a.built_with_volume.remote()
    out["volume_note"] = b"".join(a.cache.read_file("written-at-build.txt")).decode()
    out["run_function"] = a.built_by_function.remote()
    try:
        a.broken.remote()
    except Exception as exc:
        out["broken"] = f"{type(exc).__name__}: {exc}"
    sb = nano_modal.Sandbox.create(app=a.app, image=a.image)  # a sandbox in the same image
    probe = sb.exec("sh", "-c", "cat /etc/debian_version; python3 -c 'import six; print(six.__file__)'; pwd")
    out["sandbox"] = probe.stdout.read().split()
    probe.wait()
    sb.exec("sh", "-c", "echo made here > /opt/made.txt && rm /etc/issue").wait()
    snap = sb.snapshot_filesystem()
    sb.terminate()
    sb2 = nano_modal.Sandbox.create(app=a.app, image=snap)  # starts from the snapshot
    check = sb2.exec("sh", "-c", "cat /opt/made.txt; test -e /etc/issue && echo issue || echo no-issue")
    out["snapshot"] = check.stdout.read().split()
    check.wait()
    sb2.terminate()
    plain = nano_modal.Sandbox.create(app=a.app)  # no image: nothing to snapshot
    try:
        plain.snapshot_filesystem()
    except Exception as exc:
        out["plain_snapshot"] = f"{type(exc).__name__}: {exc}"
    plain.terminate()
print("RESULT " + json.dumps(out))
"""


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_functions_run_in_their_image(runtime: str, isolated_cluster: object, tmp_path: Path) -> None:
    require(runtime)
    cluster: Cluster = isolated_cluster(runtime)  # type: ignore[operator]
    nonce = secrets.token_hex(4)
    result = run_script(tmp_path, DRIVER, env={**cluster.env(), "IMAGE_APP_NONCE": nonce}, timeout=600)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    where = out["where"]
    assert where["six_file"] == "/usr/local/lib/python3.11/dist-packages/six.py"
    assert where["executable"] == "/usr/bin/python3" and where["version"] == "3.11"
    assert where["debian"].startswith("12.")
    assert where["mode"] == "test" and where["cwd"] == "/srv/app"
    assert where["mounted"] == ["one.txt", "two.txt"] and where["root_writable"] is True
    # Without image= a function runs on the worker's own Python, as before.
    assert out["host"] == sys.executable  # by the path it was started with: a venv's stays a venv's
    assert "run_commands echo about to fail; exit 7" in out["broken"] and "about to fail" in out["broken"]
    assert out["secret"] == {"file": "token=s3cr3t", "env": None}
    assert out["run_function"] == "42 bytes by /usr/bin/python3"  # ran in the image, at build time
    # run_function(volumes=): the step read the volume into its layer and its write was committed
    assert out["volume"] == {"layer": out["seed"], "mounted": False}
    assert out["volume_note"] == f"the build was here {nonce}"
    debian, six_file, cwd = out["sandbox"]
    assert debian.startswith("12.") and six_file == where["six_file"] and cwd == "/srv/app"
    assert out["snapshot"] == ["made", "here", "no-issue"]  # the new file, and the deletion, kept
    assert "snapshot_filesystem needs a sandbox created with image=" in out["plain_snapshot"]
    # The build log reached the caller's terminal.
    assert "Step 1/4: pip_install six" in result.stderr


def test_roots_left_by_a_dead_worker_are_unmounted(tmp_path: Path) -> None:
    from nano_modal.worker.images.overlay import mount_overlay
    from nano_modal.worker.images.rootfs import SCRATCH_PREFIX, sweep_mounts

    for lower in ("a", "b"):
        (tmp_path / lower).mkdir()
    (tmp_path / "a" / "f").write_text("x")
    dead = Path(tempfile.gettempdir()) / f"{SCRATCH_PREFIX}999999999-ta-test-"  # no such pid
    alive = Path(tempfile.gettempdir()) / f"{SCRATCH_PREFIX}{os.getpid()}-ta-test-"
    for scratch in (dead, alive):
        mount_overlay([tmp_path / "a", tmp_path / "b"], scratch / "merged")
    try:
        sweep_mounts()
        assert not dead.exists()
        assert (alive / "merged" / "f").read_text() == "x"  # a live worker's container keeps its root
    finally:
        for scratch in (dead, alive):
            subprocess.run(["umount", str(scratch / "merged")], capture_output=True, check=False)
            shutil.rmtree(scratch, ignore_errors=True)


def test_concurrent_starts_of_one_image_build_it_once(store: Store) -> None:
    """Containers of an image starting together wait for the one build (the worker's lock)."""
    image = Image.debian_slim().run_commands(f"echo {os.urandom(8).hex()} > /unique.txt")  # never cached
    blobs = Blobs()
    lines: list[str] = []

    async def go() -> list[BuiltImage]:
        spec = await image.to_proto(blobs)  # type: ignore[arg-type]
        builder = ImageBuilder(store)
        return list(await asyncio.gather(*(builder.ensure(spec, blobs.download_blob, lines.append) for _ in range(3))))

    first, *others = asyncio.run(go())
    assert all(built is first for built in others)
    assert len([line for line in lines if line.startswith("Step 1/1: run_commands")]) == 1, lines
    store.remove_record(first.image_id)  # a one-off: the next prune frees it


def test_uv_pip_install_falls_back_to_pip_and_says_so(store: Store) -> None:
    fresh = {"FRESH": os.urandom(8).hex()}  # a new parent: the step really runs
    built, lines = build(store, Image.debian_slim().env(fresh).uv_pip_install("six"))
    assert any("uv is not in the image: installing with pip" in line for line in lines), lines
    assert run(built, "python3 -c 'import six; print(six.__file__)'").endswith("dist-packages/six.py")
    store.remove_record(built.image_id)  # a one-off: the next prune frees it


def test_force_build_ignores_the_cache(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = Image.debian_slim().run_commands("echo $(date +%s%N) > /stamp.txt")
    first, _ = build(store, plain)
    again, log = build(store, plain)
    assert any(line.startswith("Step") and "(cached)" in line for line in log) and run(again, "cat /stamp.txt") == run(
        first, "cat /stamp.txt"
    )
    forced, log = build(store, Image.debian_slim().run_commands("echo $(date +%s%N) > /stamp.txt", force_build=True))
    assert not any(line.startswith("Step") and "(cached)" in line for line in log)
    assert run(forced, "cat /stamp.txt") != run(first, "cat /stamp.txt")
    monkeypatch.setenv("NANO_MODAL_FORCE_BUILD", "1")  # every step, as MODAL_FORCE_BUILD does
    _, log = build(store, Image.debian_slim().run_commands("echo $(date +%s%N) > /stamp.txt"))
    assert not any(line.startswith("Step") and "(cached)" in line for line in log)


PINNED_PROTOBUF = """
import json
import nano_modal

app = nano_modal.App("pinned-protobuf")
image = nano_modal.Image.debian_slim().pip_install("protobuf==5.29.5")


@app.function(image=image)
def versions() -> dict:
    import google.protobuf
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message.update({"ok": True})  # the user's protobuf works, not only imports
    return {"protobuf": google.protobuf.__version__, "file": google.protobuf.__file__, "ok": message["ok"]}


if __name__ == "__main__":
    with app.run():
        print("RESULT " + json.dumps(versions.remote()))
"""


def test_an_image_pinning_its_own_protobuf_runs_functions(isolated_cluster: object, tmp_path: Path) -> None:
    """The SDK's generated code must not refuse the image's protobuf (it used to: 'gencode
    7.35.1 runtime 5.29.5'); the user's code sees the version its image pinned."""
    require("bwrap")
    cluster: Cluster = isolated_cluster("bwrap")  # type: ignore[operator]
    result = run_script(tmp_path, PINNED_PROTOBUF, env=cluster.env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    site_packages = "/usr/local/lib/python3.11/dist-packages"
    assert out == {"protobuf": "5.29.5", "file": f"{site_packages}/google/protobuf/__init__.py", "ok": True}


def test_pip_install_modal_is_skipped_and_says_so(store: Store) -> None:
    """Modal apps pip_install("modal") in their images; in containers `import modal` is
    nano-modal's, so the real client is not installed over it."""
    fresh = Image.debian_slim().env({"NONCE": secrets.token_hex(4)})  # built now, so its log is written
    built, lines = build(store, fresh.pip_install("modal==1.2.0", "six"))
    skipped = "pip_install: skipping 'modal==1.2.0': `import modal` in containers is nano-modal's"
    assert any(line.endswith(skipped) for line in lines), lines
    found = 'python3 -c \'import importlib.util as u; print(u.find_spec("modal"), u.find_spec("six") is not None)\''
    assert run(built, found) == "None True"


def test_build_steps_resolve_names_when_the_image_has_no_resolv_conf(
    full_build: tuple[BuiltImage, list[str]],
) -> None:
    built, _ = full_build
    root = ImageRoot(built, Path("/nonexistent"))
    merged = root.mount("test")
    try:
        (merged / "etc/resolv.conf").unlink(missing_ok=True)
        out: list[str] = []
        lookup = "python3 -c \"import socket; print(len(socket.getaddrinfo('pypi.org', 443)) > 0)\""
        code, _ = run_in_root(merged, lookup, built.state.env, "/", out.append, 10)
        assert code == 0 and out == ["True"], out
        assert not (merged / "etc/resolv.conf").exists()  # the mount point made for it is gone again
    finally:
        root.release()


@pytest.mark.parametrize(("python", "release"), [("3.12", "noble"), ("3.10", "jammy")])
def test_debian_slim_python_3_12_and_3_10(store: Store, python: str, release: str) -> None:
    """No Debian release ships 3.10 or 3.12 (the latter Modal's most asked-for version): they
    come from the Ubuntu release that does."""
    built, lines = build(store, Image.debian_slim(python_version=python))
    assert any(f"ubuntu {release} (python {python})" in line for line in lines), lines
    version = "import sys; print(sys.version_info[:2])"
    expected = str(tuple(int(p) for p in python.split(".")))
    out = run(built, f"python -c '{version}'; python3 -c '{version}'; python3 -m pip --version >/dev/null")
    assert out == f"{expected}\n{expected}"


PYTHON_3_12 = """
import json
import nano_modal

app = nano_modal.App("python-3-12")


@app.function(image=nano_modal.Image.debian_slim(python_version="3.12"))
def version() -> list:
    import sys

    return list(sys.version_info[:2])


if __name__ == "__main__":
    with app.run():
        print("RESULT " + json.dumps(version.remote()))
"""


def test_functions_run_on_python_3_12(isolated_cluster: object, tmp_path: Path) -> None:
    require("bwrap")
    cluster: Cluster = isolated_cluster("bwrap")  # type: ignore[operator]
    result = run_script(tmp_path, PYTHON_3_12, env=cluster.env(), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.split("RESULT ", 1)[1]) == [3, 12]


def test_runtime_packages_for_another_python_leave_no_scratch_behind(store: Store, tmp_path: Path) -> None:
    """The SDK's packages for an image Python other than the worker's are pip-installed in a
    scratch overlay, which goes once they are out (it used to stay in the store's tmp/)."""
    built, _ = build(store, Image.debian_slim(python_version="3.12"))
    dest = store.root / "tmp" / f"test-deps-{secrets.token_hex(4)}"
    dest.mkdir()
    try:
        before = set((store.root / "tmp").iterdir())
        ImageBuilder(store)._pip_deps(built, dest, lambda line: None, deps.RUNTIME_DISTS)
        assert (dest / "grpc").is_dir() and (dest / "google" / "protobuf").is_dir()
        assert set((store.root / "tmp").iterdir()) == before
    finally:
        shutil.rmtree(dest)


def _sleep_long() -> None:
    import time

    time.sleep(600)


def _hold_memory() -> None:
    blocks = [bytearray(16 * 1024 * 1024) for _ in range(64)]  # 1 GiB, touched (zero-filled)
    print(len(blocks))


def _record_cgroup(nonce: str = "") -> None:
    Path("/opt/cgroup.txt").write_text(Path("/proc/self/cgroup").read_text() + nonce)


def test_run_function_timeout_stops_the_step(store: Store) -> None:
    with pytest.raises(StepError, match=r"run_function _sleep_long' timed out after 2s \(run_function\(timeout=\)\)"):
        build(store, Image.debian_slim().run_function(_sleep_long, timeout=2))


def test_run_function_memory_and_cpu_limit_the_step(store: Store) -> None:
    from nano_modal.worker.base import cgroup_manager

    if cgroup_manager() is None:
        pytest.skip("this worker cannot make cgroups")
    with pytest.raises(StepError, match=r"ran out of memory: limit 64 MiB \(run_function\(memory=\)\)"):
        build(store, Image.debian_slim().run_function(_hold_memory, memory=64))
    built, _ = build(store, Image.debian_slim().run_function(_record_cgroup, cpu=0.5, force_build=True))
    assert "/build-" in run(built, "cat /opt/cgroup.txt")  # in a cgroup of its own, with cpu.max set
    # The limits are no part of the layer's cache key (as in Modal): only the function and its arguments.
    nonce = {"nonce": secrets.token_hex(4)}  # a layer no earlier run has built
    limited = Image.debian_slim().run_function(_record_cgroup, kwargs=nonce, cpu=2, memory=512, timeout=60)
    _, first = build(store, limited)
    _, again = build(store, Image.debian_slim().run_function(_record_cgroup, kwargs=nonce))
    steps = [[line for line in log if line.startswith("Step")] for log in (first, again)]
    assert steps == [["Step 1/1: run_function _record_cgroup"], ["Step 1/1: run_function _record_cgroup (cached)"]]


IMAGE_LOGS = """
import json, sys
import nano_modal

nonce = sys.argv[1]
image = nano_modal.Image.debian_slim().run_commands(f"echo first-{nonce}").run_commands(f"echo second-{nonce}")
try:
    list(image.logs.tail())
except Exception as exc:
    before = f"{type(exc).__name__}: {exc}"
image.build()
print("RESULT " + json.dumps({
    "before": before,
    "tail": [e.message for e in image.logs.tail(entries=100)],
    "last_layer": [e.message for e in image.logs.fetch()],
    "all": [e.message for e in image.logs.fetch(layers=None)],
    "sources": sorted({e.source for e in image.logs.tail()}),
}))
"""


def test_image_logs_of_a_build(isolated_cluster: object, tmp_path: Path) -> None:
    require("bwrap")
    cluster: Cluster = isolated_cluster("bwrap")  # type: ignore[operator]
    nonce = secrets.token_hex(4)
    result = run_script(tmp_path, IMAGE_LOGS, nonce, env=cluster.env(), timeout=600)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert out["before"].startswith("InvalidError: Cannot fetch logs for an image that has not been built yet")
    assert any(f"  | first-{nonce}" in line for line in out["tail"]), out["tail"]
    last = out["last_layer"]
    assert last[0].startswith("Step 2/2: run_commands echo second-"), last
    assert any(f"  | second-{nonce}" in line for line in last) and not any("first-" in line for line in last)
    assert out["all"][0].startswith("Base ") and out["all"] == out["tail"]
    assert out["sources"] == ["system"]
