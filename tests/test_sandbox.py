"""Sandbox API on the session cluster (process runtime): lifecycle, exec, stdio, files, lookup.

The isolating runtimes run the same scenarios, and the attacks, in tests/worker/test_sandbox_runtimes.py.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import nano_modal
from nano_modal.exception import InvalidError, NotFoundError, SandboxTerminatedError, SandboxTimeoutError
from tests.conftest import Cluster

app = nano_modal.App("sandbox-tests")
other_app = nano_modal.App("sandbox-tests-other")


@app.function(serialized=True)
def sandbox_from_a_function(other_apps_sandbox: str) -> tuple[str, str]:
    """Code in a function container drives sandboxes of its own app, and sees no other app's."""
    sandbox = nano_modal.Sandbox.create()
    out = sandbox.exec("echo", "inner").stdout.read()
    sandbox.terminate()
    try:
        nano_modal.Sandbox.from_id(other_apps_sandbox)
        seen = "visible"
    except NotFoundError:
        seen = "not found"
    return out, seen


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[nano_modal.App]:
    with app.run(show_logs=False):
        yield app


@pytest.fixture(scope="module")
def sb(running: nano_modal.App) -> Iterator[nano_modal.Sandbox]:
    sandbox = nano_modal.Sandbox.create(app=running, timeout=600)
    yield sandbox
    sandbox.terminate()


def test_exec_output_and_exit_code(sb: nano_modal.Sandbox) -> None:
    p = sb.exec("bash", "-c", "echo out; echo err >&2; exit 3")
    assert p.stdout.read() == "out\n"
    assert p.stderr.read() == "err\n"
    assert p.wait() == 3
    assert p.returncode == 3 and p.poll() == 3


def test_stdout_streams_while_the_process_runs(sb: nano_modal.Sandbox) -> None:
    # The process waits for a file the test writes only after it has seen the first line:
    # the first line must arrive while the process is still running.
    p = sb.exec("bash", "-c", "echo first; while [ ! -e /tmp/go-on ]; do sleep 0.05; done; echo second")
    lines = iter(p.stdout)
    assert next(lines) == "first\n"
    assert p.poll() is None
    with sb.open("/tmp/go-on", "w"):
        pass
    assert next(lines) == "second\n"
    assert p.wait() == 0
    sb.rm("/tmp/go-on")


def test_exec_stream_types(sb: nano_modal.Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    from nano_modal.stream_type import StreamType

    script = "echo to-out; echo to-err >&2"
    shown = sb.exec("sh", "-c", script, stdout=StreamType.STDOUT, stderr=StreamType.DEVNULL)
    assert shown.wait() == 0
    assert shown.stdout.read() == "" and shown.stderr.read() == ""  # printed here, or dropped
    assert capsys.readouterr().out == "to-out\n"
    piped = sb.exec("sh", "-c", script, stdout=StreamType.DEVNULL)
    assert piped.stderr.read() == "to-err\n" and piped.stdout.read() == "" and piped.wait() == 0
    assert repr(StreamType.PIPE) == "nano_modal.stream_type.StreamType.PIPE"


def test_stdin_round_trip(sb: nano_modal.Sandbox) -> None:
    p = sb.exec("python3", "-c", "import sys\nfor line in sys.stdin: print(line.strip().upper(), flush=True)")
    p.stdin.write("hello\n")
    p.stdin.drain()
    assert next(iter(p.stdout)) == "HELLO\n"  # answered before stdin is closed
    p.stdin.write(b"bytes too\n")
    p.stdin.write_eof()
    p.stdin.drain()
    assert p.stdout.read() == "BYTES TOO\n"
    assert p.wait() == 0


def test_reading_after_a_partial_iteration_loses_nothing(sb: nano_modal.Sandbox) -> None:
    p = sb.exec("bash", "-c", "printf 'a\\nb\\nc'; printf 'é' >&2")
    lines = iter(p.stdout)
    assert next(lines) == "a\n"
    del lines  # the caller stops iterating; what was fetched with "a" stays in the reader
    assert p.stdout.read() == "b\nc"
    assert p.stdout.read() == ""  # at the end: nothing more
    assert list(p.stderr) == ["é"]


def test_binary_output_and_workdir(sb: nano_modal.Sandbox) -> None:
    p = sb.exec("bash", "-c", "pwd; printf '\\x00\\xff'", workdir="/tmp", text=False)
    assert p.stdout.read() == b"/tmp\n\x00\xff"


def test_exec_timeout_kills_the_process(sb: nano_modal.Sandbox) -> None:
    p = sb.exec("sleep", "30", timeout=0.5)
    assert p.wait() == 124


def test_exec_secrets(sb: nano_modal.Sandbox) -> None:
    secret = nano_modal.Secret.from_dict({"SANDBOX_SECRET": "s3cr3t"})
    p = sb.exec("bash", "-c", "echo $SANDBOX_SECRET", secrets=[secret])
    assert p.stdout.read() == "s3cr3t\n"


def test_missing_command_reports_127(sb: nano_modal.Sandbox) -> None:
    p = sb.exec("no-such-command-anywhere")
    assert p.wait() == 127
    assert "no-such-command-anywhere" in p.stderr.read()


def test_files(sb: nano_modal.Sandbox) -> None:
    sb.mkdir("/tmp/files-test/sub", parents=True)
    with sb.open("/tmp/files-test/sub/a.txt", "w") as f:
        f.write("one\n")
    with sb.open("/tmp/files-test/sub/a.txt", "a") as f:
        f.write("two\n")
    with sb.open("/tmp/files-test/sub/a.txt") as f:
        assert f.readline() == "one\n"
        assert f.read() == "two\n"
    with sb.open("/tmp/files-test/b.bin", "wb") as f:
        f.write(b"\x00\x01")
    assert sb.open("/tmp/files-test/b.bin", "rb").read() == b"\x00\x01"
    assert sb.ls("/tmp/files-test") == ["b.bin", "sub"]
    # The same files are what commands in the sandbox see.
    assert sb.exec("cat", "/tmp/files-test/sub/a.txt").stdout.read() == "one\ntwo\n"
    with pytest.raises(IsADirectoryError):
        sb.rm("/tmp/files-test")
    sb.rm("/tmp/files-test", recursive=True)
    with pytest.raises(FileNotFoundError):
        sb.ls("/tmp/files-test")
    with pytest.raises(FileNotFoundError):
        sb.open("/tmp/files-test/nope")
    with pytest.raises(InvalidError, match="invalid mode"):
        sb.open("/tmp/x", "q")


def test_entrypoint_wait_returncode_and_stdout(running: nano_modal.App) -> None:
    sandbox = nano_modal.Sandbox.create("bash", "-c", "read x; echo got $x; exit 7", app=running)
    assert sandbox.poll() is None and sandbox.returncode is None
    sandbox.stdin.write("it\n")
    sandbox.stdin.drain()
    sandbox.wait()
    assert sandbox.returncode == 7 and sandbox.poll() == 7
    assert sandbox.stdout.read() == "got it\n"
    with pytest.raises(SandboxTerminatedError, match="finished"):
        sandbox.exec("true")


def test_terminate(running: nano_modal.App) -> None:
    sandbox = nano_modal.Sandbox.create(app=running)
    p = sandbox.exec("sleep", "60")
    sandbox.terminate()
    with pytest.raises(SandboxTerminatedError):
        sandbox.wait()
    assert sandbox.returncode == 137
    assert p.wait() == 137


def test_timeout_and_idle_timeout(running: nano_modal.App) -> None:
    sandbox = nano_modal.Sandbox.create("sleep", "60", app=running, timeout=1)
    with pytest.raises(SandboxTimeoutError):
        sandbox.wait()
    assert sandbox.returncode == 124
    idle = nano_modal.Sandbox.create(app=running, idle_timeout=1)
    assert idle.exec("echo", "busy").wait() == 0
    with pytest.raises(SandboxTimeoutError):
        idle.wait()


def test_from_id_from_name_list_and_tags(running: nano_modal.App) -> None:
    named = nano_modal.Sandbox.create(app=running, name="lookup-me")
    try:
        assert nano_modal.Sandbox.from_id(named.object_id).object_id == named.object_id
        assert nano_modal.Sandbox.from_name("sandbox-tests", "lookup-me").object_id == named.object_id
        with pytest.raises(InvalidError, match="already exists"):
            nano_modal.Sandbox.create(app=running, name="lookup-me")
        named.set_tags({"team": "a", "kind": "test"})
        assert named.get_tags() == {"team": "a", "kind": "test"}
        found = [s.object_id for s in nano_modal.Sandbox.list(app_id=running.app_id, tags={"team": "a"})]
        assert found == [named.object_id]
        assert list(nano_modal.Sandbox.list(tags={"team": "b"})) == []
        # A handle from from_id drives the same sandbox.
        assert nano_modal.Sandbox.from_id(named.object_id).exec("echo", "x").stdout.read() == "x\n"
    finally:
        named.terminate()
    named.wait(raise_on_termination=False)
    assert named.object_id not in [s.object_id for s in nano_modal.Sandbox.list(app_id=running.app_id)]
    with pytest.raises(NotFoundError):
        nano_modal.Sandbox.from_name("sandbox-tests", "lookup-me")
    ended = nano_modal.Sandbox.from_name("sandbox-tests", "lookup-me", include_terminated=True)
    assert ended.object_id == named.object_id and ended.poll() is not None
    with pytest.raises(NotFoundError):
        nano_modal.Sandbox.from_name("sandbox-tests", "never-made", include_terminated=True)


def test_bad_input_is_named(running: nano_modal.App) -> None:
    with pytest.raises(InvalidError, match="24 hours"):
        nano_modal.Sandbox.create(app=running, timeout=25 * 3600)
    with pytest.raises(InvalidError, match="app"):
        nano_modal.Sandbox.create()
    with pytest.raises(NotFoundError, match="sb-nope"):
        nano_modal.Sandbox.from_id("sb-nope")
    with pytest.raises(InvalidError, match="needs a command"):
        nano_modal.Sandbox("sb-x").exec()


def test_async_twins(running: nano_modal.App) -> None:
    async def main() -> tuple[str, list[str], int | None]:
        sandbox = await nano_modal.Sandbox.create.aio(app=running)
        p = await sandbox.exec.aio("bash", "-c", "echo a; echo b")
        lines = [line async for line in p.stdout]
        await p.wait.aio()
        names = await sandbox.ls.aio("/")
        await sandbox.terminate.aio()
        await sandbox.wait.aio(raise_on_termination=False)
        return "".join(lines), names, sandbox.returncode

    out, names, code = asyncio.run(main())
    assert out == "a\nb\n" and "tmp" in names and code == 137


def test_volumes_are_synced_in_and_committed_on_exit(running: nano_modal.App, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("from the volume")
    mount = str(tmp_path / "mnt")  # the process runtime links the mount path on this host
    with nano_modal.Volume.ephemeral() as volume:
        with volume.batch_upload() as batch:
            batch.put_file(source, "/in.txt")
        sandbox = nano_modal.Sandbox.create(app=running, volumes={mount: volume})
        assert sandbox.exec("cat", f"{mount}/in.txt").stdout.read() == "from the volume"
        assert sandbox.exec("bash", "-c", f"echo written > {mount}/out.txt").wait() == 0
        sandbox.terminate()
        sandbox.wait(raise_on_termination=False)
        assert b"".join(volume.read_file("out.txt")) == b"written\n"


@app.function(serialized=True)
def deaf_to_exec() -> int:
    """A function that takes the signal the worker uses to start the exec agent for itself."""
    import os
    import signal

    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    return os.getpid()


def test_exec_into_a_container_whose_agent_never_starts_fails_clearly(running: nano_modal.App) -> None:
    from nano_modal._utils.aio import run_blocking
    from nano_modal.client import Client
    from nano_modal.proto import api_pb2

    deaf_to_exec.remote()
    listed = run_blocking(run_blocking(Client.get()).stub.ContainerList(api_pb2.ContainerListRequest()))
    container_id = next(c.container_id for c in listed.containers if c.function_name == "deaf_to_exec")
    p = nano_modal.Sandbox(container_id).exec("true")
    assert p.wait() == 126
    assert "the agent did not start" in p.stderr.read()


def test_function_containers_create_sandboxes_in_their_own_app_only(running: nano_modal.App) -> None:
    with other_app.run(show_logs=False):
        foreign = nano_modal.Sandbox.create(app=other_app)
        try:
            assert sandbox_from_a_function.remote(foreign.object_id) == ("inner\n", "not found")
        finally:
            foreign.terminate()


def test_pty_size_and_resize(sb: nano_modal.Sandbox) -> None:
    from nano_modal._utils.aio import run_blocking

    size = {"NANO_MODAL_PTY_SIZE": "24,80"}  # what `nano-modal container exec` sends from its terminal
    p = sb.exec("bash", "-c", "stty -echo; stty size; read x; stty size", pty=True, env=size)
    lines = iter(p.stdout)
    assert next(lines).strip() == "24 80"
    run_blocking(p.stdin._resize(50, 132))  # the terminal window changed
    p.stdin.write("go\n")
    p.stdin.drain()
    assert next(lines).strip() == "50 132"
    assert p.wait() == 0


def test_large_files_and_stdin_go_in_pieces(sb: nano_modal.Sandbox) -> None:
    blob = bytes(range(256)) * (12 * 1024 * 1024 // 256)  # 12 MiB: many stdin pieces, one file
    with sb.open("/tmp/big.bin", "wb") as f:
        f.write(blob)
    assert sb.exec("bash", "-c", "wc -c < /tmp/big.bin").stdout.read().strip() == str(len(blob))
    assert sb.open("/tmp/big.bin", "rb").read() == blob
    sb.rm("/tmp/big.bin")


def test_wait_until_ready_with_probes(running: nano_modal.App) -> None:
    import sys

    server = "import http.server as h, time; time.sleep(1); h.test(h.SimpleHTTPRequestHandler, port=8917)"
    sb = nano_modal.Sandbox.create(
        sys.executable, "-c", server, app=running, readiness_probe=nano_modal.Probe.with_tcp(8917)
    )
    try:
        sb.wait_until_ready(timeout=60)
        probe = sb.exec(sys.executable, "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8917')")
        assert probe.wait() == 0, probe.stderr.read()  # ready meant really listening
    finally:
        sb.terminate()
    flag = nano_modal.Sandbox.create(
        "sh", "-c", "sleep 1; touch /tmp/ready-flag; sleep 60", app=running,
        readiness_probe=nano_modal.Probe.with_exec("test", "-f", "/tmp/ready-flag"),
    )  # fmt: skip
    try:
        flag.wait_until_ready(timeout=60)
        assert flag.exec("test", "-f", "/tmp/ready-flag").wait() == 0
    finally:
        flag.terminate()
    quick = nano_modal.Sandbox.create("true", app=running, readiness_probe=nano_modal.Probe.with_tcp(8918))
    with pytest.raises(SandboxTerminatedError, match="before it was ready"):
        quick.wait_until_ready(timeout=60)
    with pytest.raises(InvalidError, match="readiness_probe"):
        nano_modal.Sandbox.create("true", app=running).wait_until_ready()
    with pytest.raises(InvalidError, match="exactly one"):
        nano_modal.Probe()


def test_terminate_wait_tags_and_hydrate(running: nano_modal.App) -> None:
    sb = nano_modal.Sandbox.create("sleep", "60", app=running, tags={"team": "parity"})
    assert sb.get_tags() == {"team": "parity"}
    assert sb.hydrate().returncode is None
    assert sb.terminate(wait=True) == 137
    assert sb.hydrate().returncode == 137


def test_sandbox_has_modal_container_variables(running: nano_modal.App) -> None:
    sb = nano_modal.Sandbox.create(app=running)
    try:
        out = sb.exec("sh", "-c", "echo $MODAL_TASK_ID $MODAL_REGION $MODAL_IS_REMOTE.").stdout.read().split()
    finally:
        sb.terminate()
    assert len(out) == 3 and out[0] and out[1:] == ["local", "."], out  # no MODAL_IS_REMOTE: not a function


def test_entrypoint_on_a_terminal_and_modals_exec_options(running: nano_modal.App) -> None:
    on_tty = "import os, sys; print('tty', os.isatty(0), os.isatty(1), file=sys.stderr)"
    sb = nano_modal.Sandbox.create(sys.executable, "-c", on_tty, app=running, pty=True)
    sb.wait()
    assert sb.stdout.read().strip() == "tty True True"  # stderr on the terminal, read as stdout
    assert sb.stderr.read() == ""
    idle = nano_modal.Sandbox.create(app=running)
    p = idle.exec(sys.executable, "-c", on_tty, bufsize=1, pty_info=object())  # Modal's old spelling of pty
    assert p.stdout.read().strip() == "tty True True" and p.wait() == 0
    with pytest.raises(InvalidError, match="bufsize must be -1 or 1, got 0"):
        idle.exec("true", bufsize=0)
    idle.terminate()


def test_modals_filesystem_api(sb: nano_modal.Sandbox, tmp_path: Path) -> None:
    from nano_modal.exception import (
        SandboxFilesystemDirectoryNotEmptyError,
        SandboxFilesystemNotFoundError,
        SandboxFilesystemPathAlreadyExistsError,
    )
    from nano_modal.types import FileType

    fs = sb.filesystem
    root = f"/tmp/fs-{tmp_path.name}"
    fs.write_text("hello", f"{root}/a/notes.txt")  # its parents are made
    assert fs.read_text(f"{root}/a/notes.txt") == "hello"
    fs.write_bytes(b"\x00\x01", f"{root}/a/raw.bin")
    sb.exec("ln", "-s", "notes.txt", f"{root}/a/link").wait()
    entries = {e.name: e for e in fs.list_files(f"{root}/a")}
    assert sorted(entries) == ["link", "notes.txt", "raw.bin"]
    raw = entries["raw.bin"]
    assert raw.size == 2 and raw.is_file() and raw.path == f"{root}/a/raw.bin"
    assert entries["link"].type == FileType.SYMLINK and entries["link"].symlink_target == "notes.txt"
    info = fs.stat(f"{root}/a")
    assert info.is_dir() and info.name == "a" and info.permissions.startswith("d") and info.modified_time > 0
    local = tmp_path / "copy.txt"
    fs.copy_to_local(f"{root}/a/notes.txt", local)
    assert local.read_text() == "hello"
    local.write_text("from here")
    fs.copy_from_local(local, f"{root}/b/up.txt")
    assert fs.read_bytes(f"{root}/b/up.txt") == b"from here"
    with pytest.raises(SandboxFilesystemPathAlreadyExistsError):
        fs.make_directory(f"{root}/b")
    fs.make_directory(f"{root}/c/d")
    with pytest.raises(SandboxFilesystemDirectoryNotEmptyError):
        fs.remove(f"{root}/c")
    fs.remove(f"{root}/c/d")  # empty: removed without recursive=True
    fs.remove(f"{root}/a", recursive=True)
    with pytest.raises(SandboxFilesystemNotFoundError):
        fs.read_text(f"{root}/a/notes.txt")
    with pytest.raises(InvalidError, match="needs an absolute path"):
        fs.stat("relative")


def test_detach_lets_go_of_the_handle_only(running: nano_modal.App) -> None:
    from nano_modal.exception import ClientClosed

    sb = nano_modal.Sandbox.create(app=running)
    sb.detach()
    with pytest.raises(ClientClosed, match="was detached: use Sandbox"):
        sb.exec("true")
    with pytest.raises(ClientClosed):
        sb.terminate()
    again = nano_modal.Sandbox.from_id(sb.object_id)
    assert again.exec("echo", "still running").stdout.read() == "still running\n"
    again.terminate()
    sb.wait(raise_on_termination=False)  # waiting works on a detached handle, as in Modal
    assert sb.returncode == 137


def test_an_outbound_allowlist_is_refused_where_no_worker_can_enforce_it(running: nano_modal.App) -> None:
    """This session's worker runs the process runtime, which shares the host's network."""
    before = [s.object_id for s in nano_modal.Sandbox.list(app_id=running.app_id)]
    with pytest.raises(InvalidError, match="outbound_cidr_allowlist, which no worker here can enforce"):
        nano_modal.Sandbox.create(app=running, outbound_cidr_allowlist=["203.0.113.0/24"])
    assert [s.object_id for s in nano_modal.Sandbox.list(app_id=running.app_id)] == before  # none was started


def test_reload_volumes_brings_in_what_was_committed_since_start(running: nano_modal.App, tmp_path: Path) -> None:
    mount = str(tmp_path / "mnt")  # the process runtime links the mount path on this host
    later = tmp_path / "later.txt"
    later.write_text("committed after the start")
    with nano_modal.Volume.ephemeral() as volume:
        sandbox = nano_modal.Sandbox.create(app=running, volumes={mount: volume})
        assert sandbox.exec("ls", mount).stdout.read() == ""
        with volume.batch_upload() as batch:
            batch.put_file(later, "/later.txt")
        sandbox.reload_volumes()
        assert sandbox.exec("cat", f"{mount}/later.txt").stdout.read() == "committed after the start"
        sandbox.terminate()
