"""Volume: the file API, mounts in containers with commit/reload visibility, read-only mounts,
the CLI, bad input, and every kind of object surviving a server restart."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import nano_modal
from nano_modal import FileEntryType
from nano_modal.exception import ExecutionError, InvalidError, NotFoundError
from tests.conftest import start_server, start_worker, stop
from tests.helpers import run_script, wait_for


def fresh() -> nano_modal.Volume:
    return nano_modal.Volume.from_name(f"v-{uuid.uuid4().hex[:10]}", create_if_missing=True)


def read(vol: nano_modal.Volume, path: str) -> bytes:
    return b"".join(vol.read_file(path))


def test_file_api(cluster: Any, tmp_path: Path) -> None:
    vol = fresh()
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "a.txt").write_text("A")
    (tmp_path / "tree" / "sub" / "b.txt").write_text("B")
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 20_000)  # several transfer chunks
    with vol.batch_upload() as batch:
        batch.put_directory(tmp_path / "tree", "/data")
        batch.put_file(tmp_path / "big.bin", "/big.bin")
        batch.put_file(io.BytesIO(b"from memory"), "mem.txt")
    assert [(e.path, e.type) for e in vol.listdir("/")] == [
        ("big.bin", FileEntryType.FILE),
        ("data", FileEntryType.DIRECTORY),
        ("mem.txt", FileEntryType.FILE),
    ]
    assert [e.path for e in vol.listdir("data", recursive=True)] == ["data/a.txt", "data/sub", "data/sub/b.txt"]
    assert [e.path for e in vol.iterdir("/data")] == ["data/a.txt", "data/sub", "data/sub/b.txt"]
    entry = vol.listdir("/data/a.txt")[0]
    assert (entry.path, entry.size, entry.type) == ("data/a.txt", 1, FileEntryType.FILE)
    assert read(vol, "/data/sub/b.txt") == b"B"
    assert read(vol, "big.bin") == (tmp_path / "big.bin").read_bytes()
    buffer = io.BytesIO()
    assert vol.read_file_into_fileobj("mem.txt", buffer) == len(b"from memory")
    assert buffer.getvalue() == b"from memory"

    vol.copy_files(["data/a.txt"], "copies/")  # into a directory
    vol.copy_files(["mem.txt"], "renamed.txt")  # to a new name
    vol.copy_files(["data"], "backup", recursive=True)
    assert read(vol, "copies/a.txt") == b"A" and read(vol, "renamed.txt") == b"from memory"
    assert read(vol, "backup/sub/b.txt") == b"B"
    with pytest.raises(InvalidError, match="recursive=True"):
        vol.copy_files(["data"], "nope")

    with pytest.raises(FileExistsError, match="force=True"), vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"new"), "mem.txt")
    assert read(vol, "mem.txt") == b"from memory"  # nothing was written
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"new"), "mem.txt")
    assert read(vol, "mem.txt") == b"new"

    with pytest.raises(InvalidError, match="recursive=True"):
        vol.remove_file("data")
    vol.remove_file("data", recursive=True)
    vol.remove_file("mem.txt")
    with pytest.raises(FileNotFoundError):
        read(vol, "data/a.txt")
    with pytest.raises(FileNotFoundError):
        vol.listdir("data")
    with pytest.raises(FileNotFoundError):
        vol.remove_file("mem.txt")
    assert read(vol, "backup/a.txt") == b"A"  # copies share content, and outlive the original


def test_async_and_ephemeral(cluster: Any) -> None:
    import asyncio

    with nano_modal.Volume.ephemeral() as vol:

        async def main() -> tuple[list[str], bytes]:
            async with vol.batch_upload() as batch:
                batch.put_file(io.BytesIO(b"x"), "x.txt")
            entries = [e.path for e in await vol.listdir.aio("/")]
            return entries, b"".join([c async for c in vol.read_file.aio("x.txt")])

        assert asyncio.run(main()) == (["x.txt"], b"x")
        object_id = vol.object_id
    with pytest.raises(NotFoundError):
        nano_modal.Volume.from_id(object_id).listdir("/")


# ---------------------------------------------------------------- mounted in containers


def test_commit_and_reload_between_client_and_containers(objects_app: Any) -> None:
    vol, mount = objects_app.vol, objects_app.MOUNT
    name = f"t-{uuid.uuid4().hex[:8]}"
    # A container writes and commits: the client sees it.
    files = objects_app.volume_write.remote(mount, f"{name}/hello.txt", "from a container")
    assert f"{name}/hello.txt" in files
    assert read(vol, f"{name}/hello.txt") == b"from a container"
    # The client writes: a container sees it after reload(), not before.
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"v1"), f"{name}/client.txt")
    assert objects_app.volume_read.remote(mount, f"{name}/client.txt") == "v1"
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"v2"), f"{name}/client.txt")
    assert objects_app.volume_read.remote(mount, f"{name}/client.txt", reload=False) == "v1"
    assert objects_app.volume_read.remote(mount, f"{name}/client.txt") == "v2"
    # Deletions travel both ways.
    vol.remove_file(f"{name}/client.txt")
    assert objects_app.volume_read.remote(mount, f"{name}/client.txt") is None
    objects_app.volume_delete_local.remote(mount, f"{name}/hello.txt")
    with pytest.raises(FileNotFoundError):
        read(vol, f"{name}/hello.txt")


def test_container_exit_commits(objects_app: Any) -> None:
    vol = objects_app.vol
    rel = f"exit-{uuid.uuid4().hex[:8]}.txt"
    objects_app.volume_write_uncommitted.remote(objects_app.MOUNT, rel, "committed on exit")
    with pytest.raises(FileNotFoundError):
        read(vol, rel)  # not committed yet: the container is still warm
    assert wait_for(lambda: bool(vol.listdir("/") and any(e.path == rel for e in vol.listdir("/"))), 60)
    assert read(vol, rel) == b"committed on exit"


def test_read_only_mount(objects_app: Any) -> None:
    vol = objects_app.vol
    rel = f"ro-{uuid.uuid4().hex[:8]}.txt"
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"read me"), rel)
    out = objects_app.volume_read_only_attempts.remote(objects_app.MOUNT, rel)
    assert out["content"] == "read me"
    assert out["commit"].startswith("InvalidError") and "read-only" in out["commit"]
    assert out["remove_file"].startswith("InvalidError") and "read-only" in out["remove_file"]
    assert out["batch_upload"].startswith("InvalidError") and "read-only" in out["batch_upload"]
    assert read(vol, rel) == b"read me"  # untouched
    with pytest.raises(InvalidError, match="read-only"):
        vol.read_only().remove_file(rel)


def test_delete_in_use_is_refused(objects_app: Any) -> None:
    with pytest.raises(ExecutionError, match="in use by function volume_"):
        nano_modal.Volume.objects.delete(objects_app.VOLUME_NAME)
    objects_app.vol.listdir("/")  # still there


# ---------------------------------------------------------------- bad input


def test_bad_input(cluster: Any) -> None:
    vol = fresh()
    with pytest.raises(InvalidError, match="name"):
        nano_modal.Volume.from_name("bad/name")
    with pytest.raises(NotFoundError, match="create_if_missing"):
        nano_modal.Volume.from_name(f"missing-{uuid.uuid4().hex[:8]}").listdir("/")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read(vol, "nothing-here")
    with pytest.raises(InvalidError, match=r"\.\."):
        vol.listdir("../etc")
    with pytest.raises(FileNotFoundError):
        vol.batch_upload().put_file("/no/such/local/file", "x")
    with pytest.raises(InvalidError, match="not a file path"):
        vol.batch_upload().put_file(io.BytesIO(b""), "/")
    with pytest.raises(InvalidError, match="commit"):
        vol.commit()  # not mounted in this process
    app = nano_modal.App("bad-mounts")
    for volumes, message in (
        ({"relative": vol}, "absolute"),
        ({"/": vol}, "cannot mount"),
        ({"/data": "not a volume"}, "must be a nano_modal.Volume"),
        ({"/data": vol, "/data/inner": vol}, "overlap"),
    ):
        with pytest.raises(InvalidError, match=message):
            app.function(volumes=volumes, serialized=True)(lambda: None)  # type: ignore[arg-type]


def test_a_mount_path_over_existing_files_hides_them_from_the_container_only(cluster: Any, tmp_path: Path) -> None:
    """The process runtime binds each container's own copy of the volume at the mount path in its
    own mount namespace (as bwrap does): what the host has there is hidden from the container,
    and left as it was."""
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "precious.txt").write_text("must survive")
    vol = fresh()
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"from the volume"), "in-volume.txt")
    app = nano_modal.App("mount-over-files")
    listing = app.function(volumes={str(occupied): vol}, serialized=True)(lambda: sorted(os.listdir(str(occupied))))
    with app.run(show_logs=False):
        assert listing.remote() == ["in-volume.txt"]
    assert sorted(os.listdir(occupied)) == ["precious.txt"]
    assert (occupied / "precious.txt").read_text() == "must survive"


def test_a_link_that_cannot_be_made_fails_clearly(tmp_path: Path) -> None:
    """Without a runtime that binds (no mount namespaces: the process runtime unprivileged), the
    container links the mount path to its volume's directory, never over existing files."""
    from nano_modal._volume_sync import _link

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "precious.txt").write_text("must survive")
    with pytest.raises(ExecutionError, match=r"cannot mount a volume at .*something is already there"):
        _link(occupied, tmp_path / "volume")
    assert sorted(os.listdir(occupied)) == ["precious.txt"]


def test_file_and_directory_cannot_share_a_path(cluster: Any) -> None:
    vol = fresh()
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"f"), "x")
    with pytest.raises(InvalidError, match="is a file"), vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"g"), "x/y")
    assert read(vol, "x") == b"f"


# ---------------------------------------------------------------- CLI


def test_cli(cluster: Any, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nano_modal.cli", "volume", *args],
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert cli("create", name).returncode == 0
    assert name in cli("list").stdout
    (tmp_path / "up" / "d").mkdir(parents=True)
    (tmp_path / "up" / "one.txt").write_text("1")
    (tmp_path / "up" / "d" / "two.txt").write_text("22")
    assert cli("put", name, str(tmp_path / "up"), "/in").returncode == 0
    assert cli("put", name, str(tmp_path / "up" / "one.txt"), "/single/").returncode == 0
    again = cli("put", name, str(tmp_path / "up" / "one.txt"), "/single/")
    assert again.returncode == 1 and "force" in again.stderr
    listing = cli("ls", name, "/in", "-r").stdout
    assert "in/one.txt" in listing and "in/d/two.txt" in listing
    assert cli("cp", name, "in/one.txt", "copy.txt").returncode == 0
    assert cli("get", name, "copy.txt", "-").stdout == "1"
    assert cli("get", name, "in", str(tmp_path / "down")).returncode == 0
    assert (tmp_path / "down" / "in" / "d" / "two.txt").read_text() == "22"
    assert cli("rm", name, "in").returncode == 1  # a directory needs -r
    assert cli("rm", name, "in", "-r").returncode == 0
    missing = cli("get", name, "in/one.txt", "-")
    assert missing.returncode == 1 and "no such file" in missing.stderr
    assert cli("delete", name, "--yes").returncode == 0
    assert name not in cli("list").stdout


def test_other_object_clis(cluster: Any) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "nano_modal.cli", *args]
        return subprocess.run(command, env=cluster.env(), capture_output=True, text=True, timeout=60)

    d, q = f"cli-d-{uuid.uuid4().hex[:6]}", f"cli-q-{uuid.uuid4().hex[:6]}"
    assert cli("dict", "create", d).returncode == 0
    nano_modal.Dict.from_name(d).update({"alpha": 1, "beta": [2, 3]})
    assert d in cli("dict", "list").stdout
    items = cli("dict", "items", d).stdout
    assert "'alpha'" in items and "[2, 3]" in items
    assert cli("dict", "get", d, "beta").stdout.strip() == "[2, 3]"
    assert cli("dict", "get", d, "gamma").returncode == 1
    assert cli("dict", "clear", d, "--yes").returncode == 0 and nano_modal.Dict.from_name(d).len() == 0
    assert cli("dict", "delete", d, "--yes").returncode == 0

    assert cli("queue", "create", q).returncode == 0
    nano_modal.Queue.from_name(q).put_many(["first", "second"])
    nano_modal.Queue.from_name(q).put("p", partition="side")
    assert cli("queue", "peek", q, "2").stdout.split() == ["'first'", "'second'"]
    assert cli("queue", "len", q).stdout.strip() == "2"
    assert cli("queue", "len", q, "--total").stdout.strip() == "3"
    assert q in cli("queue", "list").stdout
    assert cli("queue", "clear", q, "--partition", "side", "--yes").returncode == 0
    assert cli("queue", "len", q, "--total").stdout.strip() == "2"
    assert cli("queue", "delete", q, "--yes").returncode == 0
    assert cli("queue", "len", q).returncode == 1


# ---------------------------------------------------------------- restart


PHASE_1 = """
import io, nano_modal
d = nano_modal.Dict.from_name("persist-d", create_if_missing=True)
d.update({"k": "v", ("t", 1): [1, 2]})
q = nano_modal.Queue.from_name("persist-q", create_if_missing=True)
q.put_many([1, 2, 3]); q.put("p", partition="side")
nano_modal.Secret.objects.create("persist-s", {"PERSIST": "still-secret"})
vol = nano_modal.Volume.from_name("persist-v", create_if_missing=True)
with vol.batch_upload() as b:
    b.put_file(io.BytesIO(b"persisted bytes"), "dir/file.txt")
print("phase 1 done")
"""

PHASE_2 = """
import os, sys, nano_modal
MOUNT = sys.argv[1]
d = nano_modal.Dict.from_name("persist-d")
assert dict(d.items()) == {"k": "v", ("t", 1): [1, 2]}, dict(d.items())
q = nano_modal.Queue.from_name("persist-q")
assert q.get_many(10) == [1, 2, 3] and q.get(partition="side") == "p"
vol = nano_modal.Volume.from_name("persist-v")
assert b"".join(vol.read_file("dir/file.txt")) == b"persisted bytes"
app = nano_modal.App("after-restart")

@app.function(secrets=[nano_modal.Secret.from_name("persist-s")], volumes={MOUNT: vol}, serialized=True)
def check() -> str:
    return os.environ["PERSIST"] + " / " + open(os.path.join(MOUNT, "dir/file.txt")).read()

with app.run(show_logs=False):
    print(check.remote())
"""


def test_objects_survive_a_server_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token)
    try:
        env = {**os.environ, "NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": token}
        env["NANO_MODAL_HOME"] = str(tmp_path / "home")
        first = run_script(tmp_path, PHASE_1, env=env)
        assert first.returncode == 0, first.stderr
        stop(server)
        server, url = start_server(state_dir, token)  # same state directory, new port
        worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
        try:
            env["NANO_MODAL_SERVER_URL"] = url
            second = run_script(tmp_path, PHASE_2, str(tmp_path / "mnt" / "data"), env=env, timeout=120)
            assert second.returncode == 0, second.stdout + second.stderr
            assert "still-secret / persisted bytes" in second.stdout
        finally:
            stop(worker)
    finally:
        stop(server)


def test_sync_into_a_directory_a_runtime_bound(cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The container side of volumes, driven from here: a runtime that bound a private directory
    at the mount path (NANO_MODAL_MOUNTS) gets the files synced right there; reload() keeps local
    edits to files nobody else changed, and takes the remote version of files that did change."""
    from nano_modal import _volume_sync, config
    from nano_modal._utils.aio import run_blocking
    from nano_modal.client import Client
    from nano_modal.proto import api_pb2

    vol = fresh()
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"remote 1"), "keep.txt")
        batch.put_file(io.BytesIO(b"remote 1"), "changes.txt")
        batch.put_file(io.BytesIO(b"remote 1"), "sub/goes-away.txt")
    mount = tmp_path / "bound"
    mount.mkdir()
    monkeypatch.setenv(config.ENV_MOUNTS, f'{{"{mount}": "{mount}"}}')
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    spec = api_pb2.VolumeMount(mount_path=str(mount), volume_id=vol.hydrate().object_id)
    run_blocking(_volume_sync.setup_mounts([spec]))
    assert not mount.is_symlink()  # synced in place, not linked
    assert sorted(p.relative_to(mount).as_posix() for p in mount.rglob("*") if p.is_file()) == [
        "changes.txt",
        "keep.txt",
        "sub/goes-away.txt",
    ]
    (mount / "keep.txt").write_text("local edit")
    (mount / "new.txt").write_text("local only")
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"remote 2"), "changes.txt")
    vol.remove_file("sub/goes-away.txt")
    client = run_blocking(Client.get())
    (m,) = _volume_sync.mounts_of(vol.object_id)
    run_blocking(_volume_sync.reload_mount(client, m))
    assert (mount / "keep.txt").read_text() == "local edit"  # untouched remotely: the edit stays
    assert (mount / "changes.txt").read_text() == "remote 2"  # changed remotely: the remote wins
    assert not (mount / "sub").exists()  # deleted remotely and untouched here (and the empty dir goes)
    assert (mount / "new.txt").read_text() == "local only"
    assert read(vol, "keep.txt") == b"remote 1"  # nothing was committed by the reload
    (mount / "changes.txt").unlink()
    assert run_blocking(_volume_sync.commit_mount(client, m)) == 3  # keep.txt, new.txt, changes.txt deleted
    assert read(vol, "keep.txt") == b"local edit" and read(vol, "new.txt") == b"local only"
    with pytest.raises(FileNotFoundError):
        read(vol, "changes.txt")
    assert run_blocking(_volume_sync.commit_mount(client, m)) == 0  # nothing new: nothing sent


def test_a_failed_commit_on_exit_is_reported_not_swallowed(
    cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The container's commit at exit: a mount whose commit fails is named on stderr as lost and
    returned, so the entrypoint ends the container with EXIT_VOLUME_COMMIT_FAILED (the worker
    reports that as its exit reason); the other mounts are still committed."""
    from nano_modal import _volume_sync
    from nano_modal._utils.aio import run_blocking

    vol = fresh()
    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    for d in (good_dir, bad_dir):
        d.mkdir()
        (d / "new.txt").write_text("written, never committed by hand")
    good = _volume_sync.Mount(
        "/good", vol.hydrate().object_id, False, good_dir, tmp_path / "g.json", tmp_path / "g.lock"
    )
    bad = _volume_sync.Mount("/bad", "vo-doesnotexist", False, bad_dir, tmp_path / "b.json", tmp_path / "b.lock")
    saved = dict(_volume_sync._mounts)
    _volume_sync._mounts.clear()
    _volume_sync._mounts.update({"vo-doesnotexist": [bad], good.volume_id: [good]})
    try:
        failed = run_blocking(_volume_sync.commit_on_exit())
    finally:
        _volume_sync._mounts.clear()
        _volume_sync._mounts.update(saved)
    assert failed == ["/bad"]
    assert "the volume at /bad was NOT committed on exit, its changes since the last commit are lost" in (
        capsys.readouterr().err
    )
    assert read(vol, "new.txt") == b"written, never committed by hand"


def test_with_mount_options() -> None:
    vol = nano_modal.Volume.from_name("mount-options")
    frozen = vol.with_mount_options(read_only=True)
    assert frozen._read_only and not vol._read_only and frozen.name == "mount-options"
    assert frozen.with_mount_options()._read_only and not frozen.with_mount_options(read_only=False)._read_only
    assert vol.read_only()._read_only
    with pytest.raises(InvalidError, match=r"sub_path='data'.*not supported"):
        vol.with_mount_options(sub_path="data")


def test_modal_volume_options(
    cluster: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nano_modal import _porting_options

    monkeypatch.setattr(_porting_options, "_noted", set())  # each option is noted once per process
    name = f"opts-{uuid.uuid4().hex[:8]}"
    nano_modal.Volume.objects.create(name, version=2)
    with pytest.raises(InvalidError, match="version"):
        nano_modal.Volume.objects.create(f"{name}-x", version=3)
    nano_modal.Volume.objects.create(name, allow_existing=True, experimental_options={"fast": True})
    vol = nano_modal.Volume.from_name(name, create_options={"experimental_options": {"fast": True}})
    assert "experimental_options=...) ignored" in capsys.readouterr().err
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x" * 10), "/ten.bin")
    progress: list[int] = []
    out = io.BytesIO()
    assert vol.read_file_into_fileobj("/ten.bin", out, progress_cb=lambda advance: progress.append(advance)) == 10
    assert out.getvalue() == b"x" * 10 and sum(progress) == 10
    nano_modal.Volume.objects.delete(name)
