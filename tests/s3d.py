"""A real S3-compatible server for the tests: moto's (`moto[server]`, a dev dependency), on a
free loopback port, with authentication on: only the access keys it issued are accepted.

moto checks signatures against its own IAM once its first INITIAL_NO_AUTH_ACTION_COUNT
requests are spent: the first ones make an IAM user, its policy and its access key.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import free_port

SKIP_REASON = "moto's S3 server is not installed (scripts/test.sh installs the dev extra: moto[server])"
# The requests made without a signature check: create user, put user policy, create access key.
UNSIGNED_SETUP_REQUESTS = 3
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def available() -> bool:
    return importlib.util.find_spec("moto") is not None and importlib.util.find_spec("boto3") is not None


@dataclass
class S3Server:
    url: str
    access_key_id: str
    secret_access_key: str

    def client(self, key_id: str | None = None, secret: str | None = None) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key_id or self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
        )

    def credentials(self) -> dict[str, str]:
        """A Secret's variables for a CloudBucketMount."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}

    def objects(self, bucket: str) -> dict[str, bytes]:
        s3 = self.client()
        listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


@contextmanager
def s3_server(base: Path) -> Iterator[S3Server]:
    import boto3

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(UNSIGNED_SETUP_REQUESTS)}
    env.pop("AWS_ENDPOINT_URL", None)
    log = (base / "moto.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start: " + (base / "moto.log").read_text()) from None
                time.sleep(0.1)
        iam = boto3.client(
            "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup"
        )
        iam.create_user(UserName="tests")
        iam.put_user_policy(UserName="tests", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
        key = iam.create_access_key(UserName="tests")["AccessKey"]
        yield S3Server(url, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
