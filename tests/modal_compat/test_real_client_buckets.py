"""modal.CloudBucketMount with the real client from PyPI, against moto's S3 server (tests/s3d.py):
the worker copies the bucket into the function's container and its writes back when it exits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests import s3d
from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

pytestmark = [
    pytest.mark.slow(reason="installs modal from PyPI once; each `modal run` starts containers"),
    pytest.mark.skipif(not s3d.available(), reason=s3d.SKIP_REASON),
]
COPIED_BACK_TIMEOUT = 120  # seconds for the app's container to exit after `modal run` on a loaded machine

BUCKET_APP = """
import os
import modal

app = modal.App("nano-compat-bucket")
creds = modal.Secret.from_dict({"AWS_ACCESS_KEY_ID": "{key_id}", "AWS_SECRET_ACCESS_KEY": "{secret}"})
mount = modal.CloudBucketMount("{bucket}", bucket_endpoint_url="{url}", key_prefix="data/", secret=creds)
MOUNT = "{mount}"  # under the test's directory: the process runtime may have to create it on the host


@app.function(volumes={MOUNT: mount})
def work():
    text = open(os.path.join(MOUNT, "in.txt")).read()
    with open(os.path.join(MOUNT, "out.txt"), "w") as f:
        f.write(text.upper())
    return text


@app.local_entrypoint()
def main():
    print("read:", work.remote())
"""


def test_cloud_bucket_mount(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    with s3d.s3_server(tmp_path) as s3:
        s3.client().create_bucket(Bucket="compat-bucket")
        s3.client().put_object(Bucket="compat-bucket", Key="data/in.txt", Body=b"from s3")
        values = {
            "{key_id}": s3.access_key_id,
            "{secret}": s3.secret_access_key,
            "{bucket}": "compat-bucket",
            "{url}": s3.url,
            "{mount}": str(tmp_path / "mnt"),
        }
        source = BUCKET_APP
        for key, value in values.items():
            source = source.replace(key, value)
        write_app(tmp_path, source)
        run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "read: from s3" in run.stdout
        deadline = time.monotonic() + COPIED_BACK_TIMEOUT  # `modal run` stopped the app: its container exits
        while "data/out.txt" not in s3.objects("compat-bucket") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert s3.objects("compat-bucket") == {"data/in.txt": b"from s3", "data/out.txt": b"FROM S3"}
