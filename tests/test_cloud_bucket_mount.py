"""CloudBucketMount against a real S3-compatible server (moto's, tests/s3d.py) with
authentication on, through a real server and worker: the bucket's objects under key_prefix
are in the container at the mount path, its changes reach the bucket when it exits, its
credentials never enter the container's environment."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nano_modal
from nano_modal.exception import InvalidError
from tests import s3d
from tests.helpers import wait_for

pytestmark = pytest.mark.skipif(not s3d.available(), reason=s3d.SKIP_REASON)
CONTAINER_GONE_TIMEOUT = 120  # seconds for a max_inputs=1 container to exit on a loaded machine


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3d.S3Server]:
    with s3d.s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def new_bucket(s3: s3d.S3Server, objects: dict[str, bytes]) -> str:
    name = f"bkt-{uuid.uuid4().hex[:10]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    for key, body in objects.items():
        client.put_object(Bucket=name, Key=key, Body=body)
    return name


def gone(function: Any) -> bool:
    """The server knows the function's containers exited: the worker copied their changes back first."""
    return bool(function.get_current_stats().num_total_runners == 0)


def work_in_bucket(root: str) -> dict[str, Any]:
    """Runs in the container: what it sees at the mount, then changes to it."""
    seen = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            seen[os.path.relpath(path, root)] = Path(path).read_bytes()
    os.makedirs(f"{root}/new/deeper", exist_ok=True)
    with open(f"{root}/new/deeper/made.txt", "w") as f:
        f.write("made in the container")
    with open(f"{root}/a.txt", "w") as f:
        f.write("changed")
    os.remove(f"{root}/sub/b.txt")
    os.symlink("/etc/hostname", f"{root}/link-out")  # a link out of the mount is never followed
    credentials = sorted(k for k, v in os.environ.items() if "AWS" in k or "moto" in v.lower())
    return {"seen": seen, "env_credentials": credentials}


def test_read_write_with_key_prefix_and_secret(cluster: Any, s3: s3d.S3Server) -> None:
    bucket = new_bucket(
        s3, {"data/a.txt": b"A", "data/sub/b.txt": b"B", "data/keep.txt": b"K", "elsewhere.txt": b"not mounted"}
    )
    mount = nano_modal.CloudBucketMount(
        bucket,
        bucket_endpoint_url=s3.url,
        key_prefix="data/",
        secret=nano_modal.Secret.from_dict(s3.credentials()),
        force_path_style=True,
    )
    app = nano_modal.App("bucket-rw")
    work = app.function(volumes={"/bucket": mount}, serialized=True, max_inputs=1)(work_in_bucket)
    with app.run(show_logs=False):
        info = work.info().cloud_bucket_mounts["/bucket"]
        assert info == nano_modal.types.CloudBucketMountInfo(bucket, "s3", False, "data/")
        out = work.remote("/bucket")
        assert wait_for(lambda: gone(work), CONTAINER_GONE_TIMEOUT)
    assert out["seen"] == {"a.txt": b"A", "sub/b.txt": b"B", "keep.txt": b"K"}
    assert out["env_credentials"] == []  # the worker kept them
    assert s3.objects(bucket) == {
        "data/a.txt": b"changed",
        "data/keep.txt": b"K",
        "data/new/deeper/made.txt": b"made in the container",
        "elsewhere.txt": b"not mounted",
    }


def test_read_only_changes_stay_in_the_container(cluster: Any, s3: s3d.S3Server) -> None:
    objects = {"a.txt": b"A", "sub/b.txt": b"B"}
    bucket = new_bucket(s3, objects)
    secret = nano_modal.Secret.from_dict(s3.credentials())
    mount = nano_modal.CloudBucketMount(bucket, bucket_endpoint_url=s3.url, secret=secret, read_only=True)
    app = nano_modal.App("bucket-ro")
    work = app.function(volumes={"/ro-bucket": mount}, serialized=True, max_inputs=1)(work_in_bucket)
    with app.run(show_logs=False):
        out = work.remote("/ro-bucket")
        assert wait_for(lambda: gone(work), CONTAINER_GONE_TIMEOUT)
    assert out["seen"] == objects
    assert s3.objects(bucket) == objects


def test_wrong_credentials_fail_the_call_naming_the_bucket(cluster: Any, s3: s3d.S3Server) -> None:
    bucket = new_bucket(s3, {"a.txt": b"A"})
    wrong = nano_modal.Secret.from_dict({"AWS_ACCESS_KEY_ID": "AKIANOTISSUEDBYMOTO1", "AWS_SECRET_ACCESS_KEY": "x"})
    mount = nano_modal.CloudBucketMount(bucket, bucket_endpoint_url=s3.url, secret=wrong)
    app = nano_modal.App("bucket-wrong-key")
    f = app.function(volumes={"/b": mount}, serialized=True, retries=0)(lambda: "ran")
    with app.run(show_logs=False), pytest.raises(Exception, match=rf"could not copy bucket '{bucket}' to /b"):
        f.remote()


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        (nano_modal.CloudBucketMount("bkt", key_prefix="no-slash"), "must end in '/'"),
        (nano_modal.CloudBucketMount("bkt", requester_pays=True), "requester_pays=True.*needs a secret"),
        (nano_modal.CloudBucketMount("bkt", oidc_auth_role_arn="arn:aws:iam::1:role/x"), "OIDC"),
        (nano_modal.CloudBucketMount("bkt", bucket_endpoint_url="localhost:9000"), "http"),
        (nano_modal.CloudBucketMount(""), "bucket_name"),
    ],
)
def test_bad_mounts_are_refused_when_defined(mount: nano_modal.CloudBucketMount, message: str) -> None:
    app = nano_modal.App("bad-bucket")
    with pytest.raises(InvalidError, match=message):
        app.function(volumes={"/b": mount}, serialized=True)(lambda: None)


def test_bucket_types_follow_the_endpoint() -> None:
    from nano_modal.cloud_bucket_mount import bucket_type

    assert bucket_type("") == "s3"
    assert bucket_type("https://acct.r2.cloudflarestorage.com") == "r2"
    assert bucket_type("https://storage.googleapis.com") == "gcp"
    assert bucket_type("http://127.0.0.1:9000") == "s3"


def test_keys_that_would_leave_the_mount_are_skipped(tmp_path: Path) -> None:
    from nano_modal._bucket_sync import _relative

    assert _relative("p/a/b.txt", "p/") == "a/b.txt"
    assert _relative("p/dir/", "p/") == "dir/"
    for key in ("p/../escape", "p//abs", "p/a/../../x", "p/", "p/./x"):
        assert _relative(key, "p/") is None, key


ISOLATED_SCRIPT = """
import sys
import nano_modal
from tests.helpers import wait_for

bucket, url, key_id, secret = sys.argv[1:]
creds = nano_modal.Secret.from_dict({"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
mount = nano_modal.CloudBucketMount(bucket, bucket_endpoint_url=url, secret=creds)
app = nano_modal.App("bucket-isolated")

@app.function(volumes={"/mnt/bucket": mount}, max_inputs=1, serialized=True)
def copy() -> str:
    import os

    text = open("/mnt/bucket/in.txt").read()
    open("/mnt/bucket/out.txt", "w").write(text.upper())
    open("/mnt/bucket/in.txt", "a").write(" and back")  # a file the worker downloaded, changed
    os.remove("/mnt/bucket/dir/gone.txt")
    return text

with app.run(show_logs=False):
    print("read:", copy.remote())
    assert wait_for(lambda: copy.get_current_stats().num_total_runners == 0, 120)
"""


@pytest.mark.parametrize("runtime", ["bwrap", "gvisor"])
def test_isolating_runtimes_bind_the_bucket(
    runtime: str, isolated_cluster: Any, s3: s3d.S3Server, tmp_path: Path
) -> None:
    """bwrap and gVisor containers have a read-only root: the worker's copy is bound at the mount path."""
    import shutil

    from tests.helpers import run_script

    if shutil.which({"bwrap": "bwrap", "gvisor": "runsc"}[runtime]) is None:
        pytest.skip(f"{runtime} is not installed")
    bucket = new_bucket(s3, {"in.txt": b"from the bucket", "dir/gone.txt": b"x"})
    cluster = isolated_cluster(runtime)
    args = (bucket, s3.url, s3.access_key_id, s3.secret_access_key)
    result = run_script(tmp_path, ISOLATED_SCRIPT, *args, env=cluster.env(), timeout=240)
    assert result.returncode == 0, result.stderr
    assert "read: from the bucket" in result.stdout
    assert s3.objects(bucket) == {"in.txt": b"from the bucket and back", "out.txt": b"FROM THE BUCKET"}


def test_sandbox_mounts_a_bucket(cluster: Any, s3: s3d.S3Server) -> None:
    bucket = new_bucket(s3, {"in.txt": b"for the sandbox"})
    secret = nano_modal.Secret.from_dict(s3.credentials())
    mount = nano_modal.CloudBucketMount(bucket, bucket_endpoint_url=s3.url, secret=secret)
    app = nano_modal.App.lookup("bucket-sandbox", create_if_missing=True)
    sb = nano_modal.Sandbox.create(app=app, volumes={"/tmp/nm-sandbox-bucket": mount})
    try:
        shown = sb.exec("sh", "-c", "cat /tmp/nm-sandbox-bucket/in.txt; echo made > /tmp/nm-sandbox-bucket/new.txt")
        assert shown.stdout.read() == "for the sandbox"
        assert shown.wait() == 0
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)  # the worker reports the exit after it copied back
    assert s3.objects(bucket) == {"in.txt": b"for the sandbox", "new.txt": b"made\n"}


def read_a(root: str) -> str:
    return Path(root, "a.txt").read_text()


def test_with_options_mounts_a_bucket(cluster: Any, s3: s3d.S3Server) -> None:
    bucket = new_bucket(s3, {"a.txt": b"given by with_options"})
    secret = nano_modal.Secret.from_dict(s3.credentials())
    mount = nano_modal.CloudBucketMount(bucket, bucket_endpoint_url=s3.url, secret=secret, read_only=True)
    app = nano_modal.App("bucket-with-options")
    read = app.function(serialized=True)(read_a)
    with app.run(show_logs=False):
        assert read.with_options(volumes={"/tmp/nm-options-bucket": mount}).remote("/tmp/nm-options-bucket") == (
            "given by with_options"
        )
