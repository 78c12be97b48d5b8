"""Container root is not host root (worker/uid_ranges.py): under the test run's root worker, a
sandbox's uids 0..65535 (bwrap's and gVisor's) are a range of unprivileged host uids, what it writes is theirs
on the host, a host root-only file in its reach stays closed to it, and inside it root is an
ordinary root: chown, useradd and su work in a Debian image.

The driver runs on the host as root: it reads the host's side (owners, modes, contents) while
the sandbox lives, before and after what the sandbox tries."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nano_modal.worker import runsc
from nano_modal.worker.uid_ranges import DEFAULT_UID_BASE, UIDS_PER_CONTAINER
from tests.conftest import Cluster
from tests.helpers import run_script
from tests.worker._drive import require

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="container uid ranges are a root worker's")
OVERFLOW_ID = 65534  # what a namespace shows for an id outside its map (/proc/sys/kernel/overflowuid)

# Inside: what it can do to a file of the host's root that the test put in its workdir.
TRY_HOST_FILE = r"""
import json, os
out = {}
for name, attempt in {
    "read": lambda: open("host-secret").read(),
    "append": lambda: open("host-secret", "a").write("container was here"),
    "chmod": lambda: os.chmod("host-secret", 0o666),
    "chown": lambda: os.chown("host-secret", 0, 0),
}.items():
    try:
        attempt()
        out[name] = "done"
    except OSError as exc:
        out[name] = type(exc).__name__
st = os.stat("host-secret")
out["seen_after"] = [st.st_uid, st.st_gid, oct(st.st_mode & 0o7777)]
print(json.dumps(out))
"""

HOST_DRIVER = r"""
import json, os, sys, nano_modal
try_host_file = sys.argv[1]
app = nano_modal.App("container-uids")
out = {}

def run(sb, *cmd):
    p = sb.exec(*cmd)
    return {"stdout": p.stdout.read(), "stderr": p.stderr.read(), "code": p.wait()}

def host_file(path):
    st = os.stat(path)
    return {"owner": [st.st_uid, st.st_gid], "mode": oct(st.st_mode & 0o7777), "content": open(path).read()}

with app.run(show_logs=False):
    sb = nano_modal.Sandbox.create(app=app, timeout=300)
    inside = run(sb, "sh", "-c", "pwd; touch made-inside; id -u; cat /proc/self/uid_map /proc/self/gid_map")
    workdir, uid, uid_map, gid_map = inside["stdout"].splitlines()[:4]
    out["inside"] = {"uid": uid, "uid_map": uid_map.split(), "gid_map": gid_map.split()}
    st = os.stat(os.path.join(workdir, "made-inside"))
    out["made_inside_owner"] = [st.st_uid, st.st_gid]
    secret = os.path.join(workdir, "host-secret")
    with open(secret, "w") as f:
        f.write("host root only")
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    out["secret_before"] = host_file(secret)
    out["attempts"] = json.loads(run(sb, "python3", "-c", try_host_file)["stdout"])
    out["secret_after"] = host_file(secret)
    sb.terminate()
print("RESULT " + json.dumps(out))
"""

# Root's everyday work in a Debian image, and who owns the result on the host.
IMAGE_DRIVER = r"""
import json, os, sys, nano_modal
try_host_file = sys.argv[1]
app = nano_modal.App("container-uids-image")

def host_file(path):
    st = os.stat(path)
    return {"owner": [st.st_uid, st.st_gid], "mode": oct(st.st_mode & 0o7777), "content": open(path).read()}
script = '''
set -e
cd "$(awk '$5 ~ /nano-modal-workers-/ && $5 !~ /agent/ {print $5; exit}' /proc/self/mountinfo)"
pwd
touch given-away && chown 1000:1000 given-away
useradd --create-home --uid 1500 alice
su -s /bin/sh nobody -c 'id -un'
su alice -c 'touch /home/alice/mine && stat -c %U /home/alice/mine'
'''
with app.run(show_logs=False):
    sb = nano_modal.Sandbox.create(app=app, image=nano_modal.Image.debian_slim(), timeout=300)
    p = sb.exec("bash", "-c", script)
    stdout, stderr, code = p.stdout.read(), p.stderr.read(), p.wait()
    lines = stdout.splitlines()
    owner, snapshot, secret = None, None, {}
    if code == 0:
        st = os.stat(os.path.join(lines[0], "given-away"))
        owner = [st.st_uid, st.st_gid]
        # With those capabilities, a host root-only file in its workdir: still closed to it.
        path = os.path.join(lines[0], "host-secret")
        with open(path, "w") as f:
            f.write("host root only")
        os.chown(path, 0, 0)
        os.chmod(path, 0o600)
        secret["before"] = host_file(path)
        p = sb.exec("sh", "-c", 'cd "$1" && exec python3 -c "$2"', "sh", lines[0], try_host_file)
        secret["attempts"], secret["after"] = p.stdout.read(), host_file(path)
        image = sb.snapshot_filesystem()  # the store keeps a root container's owners
        sb2 = nano_modal.Sandbox.create(app=app, image=image, timeout=300)
        p = sb2.exec("stat", "-c", "%n %u:%g", "/home/alice/mine", "/home/alice", "/etc/passwd")
        snapshot = p.stdout.read().splitlines()
        sb2.terminate()
    sb.terminate()
out = {"code": code, "stdout": lines[1:], "stderr": stderr[-2000:], "owner": owner, "snapshot": snapshot, **secret}
print("RESULT " + json.dumps(out))
"""


def _result(proc_stdout: str, proc_stderr: str, code: int) -> dict[str, Any]:
    lines = [line for line in proc_stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"driver failed ({code}):\n{proc_stdout[-3000:]}\n{proc_stderr[-3000:]}"
    found: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return found


def _is_range_root(uid: int) -> bool:
    return uid >= DEFAULT_UID_BASE and (uid - DEFAULT_UID_BASE) % UIDS_PER_CONTAINER == 0


def _require_ranges(runtime: str) -> None:
    require(runtime)
    if runtime == "gvisor" and not runsc.uid_mappings(runsc.binary() or ""):
        pytest.skip("runsc older than 20240729: its gofer works as host root (scripts/install_runsc.sh)")


def _assert_host_file_closed(runtime: str, attempts: dict[str, Any]) -> None:
    """Container root (with CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER) against a host root's 0600
    file: its owner is outside the container's range, so none of them applies. (The host's
    side, before and after, is the callers' to compare.)"""
    denied = dict.fromkeys(("read", "append"), "PermissionError")
    assert {k: attempts[k] for k in denied} == denied, attempts
    # gVisor's kernel shows the file as OVERFLOW_ID (which its map holds) and answers a
    # chmod or chown of it with success while its gofer's host call fails: nothing changes,
    # neither on the host nor in the container's view of it.
    changes = {"PermissionError"} if runtime == "bwrap" else {"PermissionError", "done"}
    assert attempts["chmod"] in changes and attempts["chown"] in changes, attempts
    assert attempts["seen_after"] == [OVERFLOW_ID, OVERFLOW_ID, "0o600"], attempts


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_container_root_is_an_unprivileged_host_uid(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path, runtime: str
) -> None:
    """Under gVisor the container's file operations on its binds are its gofer's, which works
    as the range's root (OCI uid mappings): the same owners on the host as under bwrap."""
    _require_ranges(runtime)
    cluster = isolated_cluster(runtime)
    proc = run_script(tmp_path, HOST_DRIVER, TRY_HOST_FILE, env=cluster.env(), timeout=300)
    out = _result(proc.stdout, proc.stderr, proc.returncode)
    owner = out["made_inside_owner"]
    assert _is_range_root(owner[0]) and owner == [owner[0], owner[0]], out  # root's file, on the host: not 0
    assert out["inside"]["uid"] == "0"
    if runtime == "bwrap":  # (gVisor's kernel shows its own identity map inside)
        assert out["inside"]["uid_map"] == ["0", str(owner[0]), str(UIDS_PER_CONTAINER)], out
        assert out["inside"]["gid_map"] == out["inside"]["uid_map"], out
    # The host root's 0600 file in its reach: closed to it, and unchanged on the host.
    _assert_host_file_closed(runtime, out["attempts"])
    unchanged = {"owner": [0, 0], "mode": "0o600", "content": "host root only"}
    assert out["secret_after"] == out["secret_before"] == unchanged, out


@pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="building images needs mmdebstrap")
@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_root_in_an_image_sandbox_can_chown_add_users_and_su(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path, runtime: str
) -> None:
    """Container root keeps root's everyday capabilities (uid_ranges.CAPABILITIES) under both
    runtimes: what it does with them lands in its own host range, never on host root's files."""
    _require_ranges(runtime)
    cluster = isolated_cluster(runtime)
    proc = run_script(tmp_path, IMAGE_DRIVER, TRY_HOST_FILE, env=cluster.env(), timeout=900)
    out = _result(proc.stdout, proc.stderr, proc.returncode)
    assert out["code"] == 0, out
    assert out["stdout"] == ["nobody", "alice"], out
    uid = out["owner"][0] - 1000
    assert _is_range_root(uid) and out["owner"] == [uid + 1000, uid + 1000], out  # its uid 1000, shifted
    # A snapshot of it starts the next sandbox (another range) with the same owners inside.
    assert out["snapshot"] == ["/home/alice/mine 1500:1500", "/home/alice 1500:1500", "/etc/passwd 0:0"], out
    _assert_host_file_closed(runtime, json.loads(out["attempts"]))
    unchanged = {"owner": [0, 0], "mode": "0o600", "content": "host root only"}
    assert out["after"] == out["before"] == unchanged, out
