"""modal.Volume with the real client from PyPI: mounted in functions, and from the CLI (issue 15)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; each `modal run` starts containers")

VOLUME_APP = """
import os
import modal

app = modal.App("nano-compat-volume")
vol = modal.Volume.from_name("compat-volume", create_if_missing=True)
MOUNT = "{mount}"  # under the test's directory: the process runtime may have to create it on the host


@app.function(volumes={MOUNT: vol})
def write(name, text, commit):
    with open(os.path.join(MOUNT, name), "w") as f:
        f.write(text)
    if commit:
        vol.commit()
    return sorted(os.listdir(MOUNT))


@app.function(volumes={MOUNT: vol})
def read(name):
    vol.reload()
    with open(os.path.join(MOUNT, name)) as f:
        return f.read()


@app.local_entrypoint()
def main():
    print("written:", write.remote("committed.txt", "by commit()", True))
    print("read back:", read.remote("committed.txt"))
    print("listdir:", sorted(e.path for e in vol.listdir("/")))
    print("read_file:", b"".join(vol.read_file("committed.txt")).decode())
    with vol.batch_upload(force=True) as batch:
        batch.put_file(__file__, "uploaded/app.py")
    print("uploaded seen:", "import modal" in read.remote("uploaded/app.py"))
    write.remote("at-exit.txt", "committed when the container exits", False)
"""


def test_volume_mounted_committed_and_read_back(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, VOLUME_APP.replace("{mount}", str(tmp_path / "mnt")))
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "written: ['committed.txt']" in run.stdout
    assert "read back: by commit()" in run.stdout
    assert "listdir: ['committed.txt']" in run.stdout
    assert "read_file: by commit()" in run.stdout
    assert "uploaded seen: True" in run.stdout

    # Written without commit(): committed when its container exits (the app stopped with `modal run`).
    deadline = time.monotonic() + 60
    while True:
        ls = modal_cluster.modal("volume", "ls", "compat-volume", "/", cwd=tmp_path)
        if "at-exit.txt" in ls.stdout or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "at-exit.txt" in ls.stdout, ls.stdout + ls.stderr
    got = modal_cluster.modal("volume", "get", "compat-volume", "at-exit.txt", str(tmp_path / "got.txt"), cwd=tmp_path)
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / "got.txt").read_text() == "committed when the container exits"


def test_volume_cli_put_get_ls_rm(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    create = modal_cluster.modal("volume", "create", "compat-cli-volume", cwd=tmp_path)
    assert create.returncode == 0, create.stdout + create.stderr
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (40 * 1024 * 4 + 7))  # ~40 MiB: blob upload, several 8 MiB blocks
    put = modal_cluster.modal("volume", "put", "compat-cli-volume", str(big), "/dir/big.bin", cwd=tmp_path)
    assert put.returncode == 0, put.stdout + put.stderr
    again = modal_cluster.modal("volume", "put", "compat-cli-volume", str(big), "/dir/big.bin", cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    ls = modal_cluster.modal("volume", "ls", "compat-cli-volume", "/dir", cwd=tmp_path)
    assert "big.bin" in ls.stdout, ls.stdout + ls.stderr
    got = modal_cluster.modal(
        "volume", "get", "compat-cli-volume", "/dir/big.bin", str(tmp_path / "back.bin"), cwd=tmp_path
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    rm = modal_cluster.modal("volume", "rm", "compat-cli-volume", "/dir/big.bin", cwd=tmp_path)
    assert rm.returncode == 0, rm.stdout + rm.stderr
    listed = modal_cluster.modal("volume", "list", "--json", cwd=tmp_path)
    assert "compat-cli-volume" in listed.stdout, listed.stdout + listed.stderr
    delete = modal_cluster.modal("volume", "delete", "--yes", "compat-cli-volume", cwd=tmp_path)
    assert delete.returncode == 0, delete.stdout + delete.stderr
    missing = modal_cluster.modal(
        "volume", "get", "compat-cli-volume", "/dir/big.bin", str(tmp_path / "x"), cwd=tmp_path
    )
    assert missing.returncode != 0


def test_volume_commit_outside_a_mounting_container_is_refused(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    script = (
        "import modal\n"
        "vol = modal.Volume.from_name('compat-volume-outside', create_if_missing=True)\n"
        "try:\n    vol.commit()\nexcept Exception as exc:\n    print('refused:', exc)\n"
    )
    run = subprocess.run(
        [str(modal_cluster.venv / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        env=modal_cluster.modal_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "works only inside a container that mounts the volume" in run.stdout + run.stderr
