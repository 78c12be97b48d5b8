"""Modal's v2 volumes with the real client from PyPI (modal_compat/volumes_v2.py):
examples/modal_client_volume_v2.py under `modal run`, then the CLI and the nano_modal SDK on
the same volume, and a multi-block upload read back byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; `modal run` starts containers")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_volume_v2.py"
VOLUME = "modal-client-volume-v2"

# The nano_modal SDK reads the file a v2 function committed.
SDK_READ = """
import nano_modal

vol = nano_modal.Volume.from_name("modal-client-volume-v2")
print("sdk:", b"".join(vol.read_file("from-function.txt")).decode())
"""


def test_v2_volume_example_with_modal_run(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, EXAMPLE.read_text())
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    for line in (
        "written: ['from-function.txt']",
        "read back: committed by a v2 function",
        "uploaded seen by a function: True",
        "listdir: ['from-function.txt', 'uploaded', 'uploaded/app.py']",
        "copy: committed by a v2 function",
        "after remove: ['from-function.txt', 'uploaded']",
    ):
        assert line in run.stdout.splitlines(), out

    ls = modal_cluster.modal("volume", "ls", VOLUME, "/", cwd=tmp_path)
    assert ls.returncode == 0 and "from-function.txt" in ls.stdout, ls.stdout + ls.stderr
    got = modal_cluster.modal("volume", "get", VOLUME, "from-function.txt", str(tmp_path / "got.txt"), cwd=tmp_path)
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / "got.txt").read_text() == "committed by a v2 function"

    env = {**os.environ, "NANO_MODAL_SERVER_URL": modal_cluster.server_url, "NANO_MODAL_TOKEN": modal_cluster.token}
    sdk = subprocess.run(
        [sys.executable, "-c", SDK_READ], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert "sdk: committed by a v2 function" in sdk.stdout, sdk.stdout + sdk.stderr


def test_v2_volume_cli_multi_block_put_get(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    create = modal_cluster.modal("volume", "create", "--version", "2", "compat-v2-cli", cwd=tmp_path)
    assert create.returncode == 0, create.stdout + create.stderr
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(8 * 1024 * 1024 * 2 + 12345))  # three 8 MiB blocks, the last partial
    put = modal_cluster.modal("volume", "put", "compat-v2-cli", str(big), "/dir/big.bin", cwd=tmp_path)
    assert put.returncode == 0, put.stdout + put.stderr
    again = modal_cluster.modal("volume", "put", "compat-v2-cli", str(big), "/dir/big.bin", cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    got = modal_cluster.modal(
        "volume", "get", "compat-v2-cli", "/dir/big.bin", str(tmp_path / "back.bin"), cwd=tmp_path
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    rm = modal_cluster.modal("volume", "rm", "compat-v2-cli", "/dir/big.bin", cwd=tmp_path)
    assert rm.returncode == 0, rm.stdout + rm.stderr
    ls = modal_cluster.modal("volume", "ls", "compat-v2-cli", "/dir", cwd=tmp_path)
    assert "big.bin" not in ls.stdout, ls.stdout + ls.stderr


BAD_BLOCK_PUT = """
import sys
import grpc
from modal_proto import api_pb2  # the client's messages: only the scratch venv has them

server_url, token = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(server_url)
metadata = (("x-modal-token-id", "nm"), ("x-modal-token-secret", token))
get = channel.unary_unary(
    "/modal.client.ModalClient/VolumeGetOrCreate",
    request_serializer=api_pb2.VolumeGetOrCreateRequest.SerializeToString,
    response_deserializer=api_pb2.VolumeGetOrCreateResponse.FromString,
)
request = api_pb2.VolumeGetOrCreateRequest(deployment_name="compat-v2-bad-block", version=api_pb2.VOLUME_FS_VERSION_V2)
volume_id = get(request, metadata=metadata, timeout=30).volume_id
put = channel.unary_unary(
    "/modal.client.ModalClient/VolumePutFiles2",
    request_serializer=api_pb2.VolumePutFiles2Request.SerializeToString,
    response_deserializer=api_pb2.VolumePutFiles2Response.FromString,
)
bad = api_pb2.VolumePutFiles2Request.File(
    path="x.bin", size=3, blocks=[api_pb2.VolumePutFiles2Request.Block(contents_sha256=b"short")]
)
try:
    put(api_pb2.VolumePutFiles2Request(volume_id=volume_id, files=[bad]), metadata=metadata, timeout=30)
    print("ACCEPTED")
except grpc.RpcError as exc:
    print(exc.code().name, exc.details())
"""


def test_v2_put_with_a_block_not_named_by_its_sha256_is_refused(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    create = modal_cluster.modal("volume", "create", "--version", "2", "compat-v2-bad-block", cwd=tmp_path)
    assert create.returncode == 0, create.stdout + create.stderr
    before = modal_cluster.modal("volume", "ls", "compat-v2-bad-block", "/", cwd=tmp_path).stdout
    python = str(modal_cluster.venv / "bin" / "python")
    put = subprocess.run(
        [python, "-c", BAD_BLOCK_PUT, modal_cluster.server_url, modal_cluster.token],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert put.returncode == 0, put.stdout + put.stderr
    assert put.stdout.startswith("INVALID_ARGUMENT "), put.stdout
    assert "each volume block is named by its sha256" in put.stdout
    assert modal_cluster.modal("volume", "ls", "compat-v2-bad-block", "/", cwd=tmp_path).stdout == before
