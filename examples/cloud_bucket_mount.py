"""An S3-compatible bucket (AWS S3, Cloudflare R2, Google Cloud Storage, MinIO...) at a path in
a function's container: `CloudBucketMount`, passed in `volumes=` as on Modal.

    pip install boto3   # on the worker (nano-modal[s3]); here too, to seed and read the bucket
    export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
    BUCKET=my-bucket BUCKET_ENDPOINT_URL=https://... nano-modal run examples/cloud_bucket_mount.py

Unlike Modal, which mounts buckets with FUSE, the worker copies the objects under key_prefix
in before the container starts and copies its changes back when it exits: a write reaches the
bucket when its container exits (here: max_inputs=1 ends it after one call).
"""

import os
import time

import nano_modal as modal

app = modal.App("cloud-bucket-mount")

BUCKET = os.environ.get("BUCKET", "nano-modal-example")
ENDPOINT = os.environ.get("BUCKET_ENDPOINT_URL")  # unset: AWS S3 itself
# From this shell's variables (on a server of your own: `nano-modal secret create s3-credentials
# AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...` and Secret.from_name("s3-credentials")).
# They reach the worker, which copies the bucket; the container's environment never has them.
credentials = modal.Secret.from_dict({k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})

inputs = modal.CloudBucketMount(
    BUCKET, bucket_endpoint_url=ENDPOINT, key_prefix="inputs/", secret=credentials, read_only=True
)
reports = modal.CloudBucketMount(BUCKET, bucket_endpoint_url=ENDPOINT, key_prefix="reports/", secret=credentials)


@app.function(volumes={"/inputs": inputs})
def total() -> int:
    """Sums the numbers of every CSV file under inputs/ in the bucket."""
    found = 0
    for name in sorted(os.listdir("/inputs")):
        with open(f"/inputs/{name}") as f:
            found += sum(int(x) for line in f for x in line.split(",") if x.strip())
    return found


@app.function(volumes={"/reports": reports}, max_inputs=1)
def write_report(value: int) -> str:
    os.makedirs("/reports/daily", exist_ok=True)
    with open("/reports/daily/total.txt", "w") as f:
        f.write(f"total={value}\n")
    return "daily/total.txt"


@app.local_entrypoint()
def main() -> None:
    import boto3  # this script's own S3 client: AWS_* from its environment

    s3 = boto3.client("s3", endpoint_url=ENDPOINT)
    s3.put_object(Bucket=BUCKET, Key="inputs/a.csv", Body=b"1,2,3\n4\n")
    s3.put_object(Bucket=BUCKET, Key="inputs/b.csv", Body=b"10,20\n")
    value = total.remote()
    print("total of the bucket's inputs:", value)
    key = "reports/" + write_report.remote(value)
    while write_report.get_current_stats().num_total_runners:  # its container copies back as it exits
        time.sleep(0.2)
    print(f"{key}:", s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().strip())
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    print("objects now:", keys)  # the read-only mount left inputs/ alone
