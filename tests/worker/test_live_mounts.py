"""Sandbox.snapshot_directory, mount_image and unmount_image on a real server and bwrap worker
(the root worker reaches into the running sandbox: worker/images/live_mounts.py)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from tests.conftest import Cluster
from tests.helpers import run_script
from tests.worker._drive import require

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="entering a sandbox's mount namespace is root's")

DRIVER = """
import json, sys
import nano_modal

app = nano_modal.App("live-mounts")
outside = sys.argv[1]  # a host directory with a secret in it, which no sandbox may copy out


def run(sb, script):
    p = sb.exec("sh", "-c", script)
    text = p.stdout.read() + p.stderr.read()
    p.wait()
    return text.strip()


def error(call):
    try:
        call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


out = {}
with app.run():
    a = nano_modal.Sandbox.create(app=app, timeout=120)
    run(a, "mkdir -p /tmp/p/sub && echo one > /tmp/p/a.txt && echo two > /tmp/p/sub/b.txt && "
           "echo mine > /tmp/p/owned.txt && chown 1000:1000 /tmp/p/owned.txt && chmod 751 /tmp/p/owned.txt && "
           "ln -s /etc/hostname /tmp/p/link && "
           f"ln -s {outside} /tmp/escape")
    snap = a.snapshot_directory("/tmp/p")
    out["escape"] = error(lambda: a.snapshot_directory("/tmp/escape"))
    out["not_absolute"] = error(lambda: a.snapshot_directory("tmp/p"))

    b = nano_modal.Sandbox.create(app=app, timeout=120)
    run(b, "mkdir -p /tmp/q && echo before > /tmp/q/old.txt")
    b.mount_image("/tmp/q", snap)
    out["mounted"] = run(b, "cd /tmp/q && ls -A | tr '\\\\n' ' ' && echo && cat a.txt sub/b.txt && "
                            "stat -c '%u %a' owned.txt && readlink link")
    out["write_in_mount"] = run(b, "echo new > /tmp/q/new.txt && cat /tmp/q/new.txt")
    out["twice"] = error(lambda: b.mount_image("/tmp/q", snap))
    b.unmount_image("/tmp/q")
    out["after_unmount"] = run(b, "ls -A /tmp/q")
    out["unmount_again"] = error(lambda: b.unmount_image("/tmp/q"))
    out["root"] = error(lambda: b.mount_image("/", snap))
    local = nano_modal.Image.debian_slim().add_local_file(__file__, "/driver.py")  # files bound at start
    out["local"] = error(lambda: b.mount_image("/tmp/local", local))

    layered = nano_modal.Image.debian_slim().run_commands("echo layered > /marker")
    b.mount_image("/tmp/deb/nested", layered)  # missing directories are made
    out["image"] = run(b, "cat /tmp/deb/nested/marker && stat -c %u /tmp/deb/nested/etc && "
                          "test -e /tmp/deb/nested/etc/debian_version && echo debian")
    out["sandbox_id"] = b.object_id
    a.terminate()
    b.terminate()
    b.wait(raise_on_termination=False)
print("RESULT " + json.dumps(out))
"""


def _mounts() -> list[str]:
    return Path("/proc/self/mounts").read_text().splitlines()


def test_snapshot_directory_mount_and_unmount(isolated_cluster: object, tmp_path: Path) -> None:
    require("bwrap")
    cluster: Cluster = isolated_cluster("bwrap")  # type: ignore[operator]
    outside = tmp_path / "host-secret"
    outside.mkdir()
    secret = secrets.token_hex(16)
    (outside / "secret.txt").write_text(secret)
    images = Path(os.environ["NANO_MODAL_IMAGES_DIR"])
    layers_before = set((images / "layers").iterdir()) if (images / "layers").exists() else set()
    mounts_before = _mounts()

    result = run_script(tmp_path, DRIVER, str(outside), env=cluster.env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])

    names, *rest = out["mounted"].split("\n", 1)
    assert sorted(names.split()) == ["a.txt", "link", "owned.txt", "sub"]  # the directory's contents, not old.txt
    # Contents, the owner and mode the sandbox gave (through both uid ranges), the symlink as a symlink.
    assert rest[0].split("\n") == ["one", "two", "1000 751", "/etc/hostname"]
    assert out["write_in_mount"] == "new"  # the mount is writable, as Modal's
    assert "already mounted at /tmp/q" in out["twice"]
    assert out["after_unmount"] == "old.txt"  # what was there shows again; the writes went with the mount
    assert "no image is mounted at /tmp/q" in out["unmount_again"]
    assert "cannot mount over the sandbox's root" in out["root"]
    assert "needs an absolute path" in out["not_absolute"]
    assert "add_local_* steps have copy=True" in out["local"]
    assert out["image"].split("\n") == ["layered", "0", "debian"]  # a built image, owned by the sandbox's root

    # A symlink to a host path is followed inside the sandbox, where that path does not exist:
    # nothing of the host's was copied into the image store.
    assert "does not exist in the sandbox" in out["escape"]
    new_layers = set((images / "layers").iterdir()) - layers_before
    for layer in new_layers:
        for path in layer.rglob("*"):
            assert not (path.is_file() and not path.is_symlink() and secret in path.read_text(errors="replace"))
    # The host's mounts are as they were: the mounted images' roots (named after the sandbox) went with it.
    mine = [line for line in _mounts() if out["sandbox_id"] in line]
    assert mine == [], mine
    assert not [m for m in mounts_before if out["sandbox_id"] in m]  # (an id of this run's)


REFUSAL = """
import nano_modal

app = nano_modal.App("live-mounts-refused")
with app.run():
    sb = nano_modal.Sandbox.create(app=app, timeout=60)
    try:
        sb.snapshot_directory("/tmp")
    except Exception as exc:
        print("REFUSED", exc)
    sb.terminate()
"""


def test_runtimes_that_cannot_reach_in_refuse_in_one_line(isolated_cluster: object, tmp_path: Path) -> None:
    cluster: Cluster = isolated_cluster("process")  # type: ignore[operator]
    result = run_script(tmp_path, REFUSAL, env=cluster.env(), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    refused = next(line for line in result.stdout.splitlines() if line.startswith("REFUSED"))
    assert "the process runtime cannot reach into a running sandbox" in refused
