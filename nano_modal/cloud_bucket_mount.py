"""`CloudBucketMount`: an S3-compatible bucket (AWS S3, Cloudflare R2, Google Cloud Storage,
MinIO...) at a path in a function's or sandbox's container, passed in `volumes=` as on Modal.

```python
creds = nano_modal.Secret.from_name("s3", required_keys=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])

@app.function(volumes={"/bucket": nano_modal.CloudBucketMount("my-bucket", secret=creds)})
def f():
    print(open("/bucket/input.csv").read())
    Path("/bucket/out.txt").write_text("done")   # in the bucket once the container exits
```

How it differs from Modal (which mounts the bucket with FUSE, AWS's mountpoint-s3): the
worker COPIES the bucket's objects under `key_prefix` into the mount path before the container
starts, and copies the container's changes back (new and changed files uploaded, deleted files'
objects deleted; nothing for `read_only`) when the container exits. So a large bucket is
downloaded whole at every container start, writes reach the bucket only when the container
exits (scale-down, `max_inputs`, app stop), and objects others write meanwhile are not seen.
The credentials stay on the worker: the container's environment never holds them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

from .exception import InvalidError
from .proto import api_pb2
from .secret import Secret, resolve_secrets


@dataclass
class CloudBucketMount:
    """Mounts an S3-compatible bucket: see the module's docstring for when data moves.

    bucket_endpoint_url: the S3 API's address for anything but AWS (R2, GCS, MinIO, a local
    server); key_prefix: only objects under it are mounted, and it must end in "/"; secret:
    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or GOOGLE_ACCESS_KEY_ID and
    GOOGLE_ACCESS_KEY_SECRET, an HMAC key for GCS; AWS_REGION optional); without one the bucket
    is read anonymously. force_path_style: address objects as <endpoint>/<bucket>/<key>.
    oidc_auth_role_arn needs modal.com's OIDC tokens and is refused when set."""

    bucket_name: str
    bucket_endpoint_url: str | None = None
    key_prefix: str | None = None
    secret: Secret | None = None
    oidc_auth_role_arn: str | None = None
    read_only: bool = False
    requester_pays: bool = False
    force_path_style: bool = False

    def validate(self, where: str) -> None:
        """Modal's checks, when the function is defined."""
        if not self.bucket_name:
            raise InvalidError(f"{where}: CloudBucketMount needs a bucket_name")
        if self.requester_pays and self.secret is None:
            raise InvalidError(f"{where}: CloudBucketMount(requester_pays=True) needs a secret with credentials")
        if self.key_prefix and not self.key_prefix.endswith("/"):
            raise InvalidError(
                f"{where}: CloudBucketMount key_prefix {self.key_prefix!r} is prefixed to every object path, "
                "so it must end in '/'"
            )
        if self.oidc_auth_role_arn:
            raise InvalidError(
                f"{where}: CloudBucketMount(oidc_auth_role_arn=) needs OIDC identity tokens issued by modal.com; "
                "pass a secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"
            )
        if self.bucket_endpoint_url and urlparse(self.bucket_endpoint_url).scheme not in ("http", "https"):
            raise InvalidError(
                f"{where}: CloudBucketMount bucket_endpoint_url {self.bucket_endpoint_url!r} must be an http(s) URL"
            )
        if self.secret is not None and not isinstance(self.secret, Secret):
            raise InvalidError(f"{where}: CloudBucketMount secret must be a Secret, not {type(self.secret).__name__}")


def bucket_type(endpoint_url: str) -> Literal["s3", "r2", "gcp"]:
    """Modal's name for the kind of bucket an endpoint serves: "r2", "gcp", or "s3" (the rest)."""
    host = urlparse(endpoint_url).hostname or ""
    if host.endswith("r2.cloudflarestorage.com"):
        return "r2"
    if host.endswith("storage.googleapis.com"):
        return "gcp"
    return "s3"


async def resolve_bucket_mounts(volumes: Mapping[str, Any]) -> list[api_pb2.CloudBucketMount]:
    """The bucket mounts a FunctionDefinition carries (sending an in-code secret to the server)."""
    mounts = []
    for path, mount in volumes.items():
        if isinstance(mount, CloudBucketMount):
            mounts.append(
                api_pb2.CloudBucketMount(
                    mount_path=posixpath.normpath(path),
                    bucket_name=mount.bucket_name,
                    bucket_endpoint_url=mount.bucket_endpoint_url or "",
                    key_prefix=mount.key_prefix or "",
                    secret_ids=await resolve_secrets([mount.secret] if mount.secret is not None else []),
                    read_only=mount.read_only,
                    requester_pays=mount.requester_pays,
                    force_path_style=mount.force_path_style,
                )
            )
    return mounts
