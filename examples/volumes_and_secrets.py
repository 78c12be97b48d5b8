"""Files that outlive containers (a Volume) and credentials that never appear in code (Secrets).

    nano-modal run examples/volumes_and_secrets.py

Containers see a volume at the path they mount it on. Writes stay local until `commit()`
(also done when the container exits); other containers see them after `reload()`. When two
containers commit the same file, the last commit wins.
"""

import io
import os
from pathlib import Path

import nano_modal as modal

app = modal.App("volumes-and-secrets")

vol = modal.Volume.from_name("example-reports", create_if_missing=True)
# With `nano-modal secret create api-credentials API_TOKEN=...` you would write
# modal.Secret.from_name("api-credentials"); from_dict keeps this example self-contained.
credentials = modal.Secret.from_dict({"API_TOKEN": "t0p-s3cret-t0ken"})

# Any absolute path works where the runtime binds volumes; the `process` runtime links the
# path to a local copy instead, so it must be able to create it: /tmp is writable everywhere.
MOUNT = "/tmp/nano-modal-example/reports"


@app.function(volumes={MOUNT: vol}, secrets=[credentials])
def write_report(day: int) -> str:
    token = os.environ["API_TOKEN"]  # injected from the secret
    config = Path(MOUNT, "inputs", "config.txt").read_text().strip()
    report = Path(MOUNT, "reports", f"day-{day}.txt")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"day {day}: {config}, authenticated with a {len(token)}-character token\n")
    vol.commit()  # now other containers (after reload) and clients can see it
    return report.name


@app.function(volumes={MOUNT: vol.read_only()})
def list_reports() -> list[str]:
    vol.reload()  # pick up what other containers committed
    return sorted(os.listdir(Path(MOUNT, "reports")))


@app.local_entrypoint()
def main() -> None:
    with vol.batch_upload(force=True) as batch:  # from here, without any container
        batch.put_file(io.BytesIO(b"threshold=0.75\n"), "/inputs/config.txt")
    for day in (1, 2):
        print("wrote", write_report.remote(day))
    print("a container sees:", list_reports.remote())
    for entry in vol.listdir("/", recursive=True):
        print(f"  {entry.path}{'/' if entry.type == modal.FileEntryType.DIRECTORY else ''}")
    print(b"".join(vol.read_file("reports/day-2.txt")).decode().strip())
    vol.copy_files(["reports/day-1.txt"], "archive/")
    vol.remove_file("reports/day-1.txt")
    print("after archiving:", [e.path for e in vol.listdir("/", recursive=True) if e.type == modal.FileEntryType.FILE])
    # A name is a label: a renamed volume keeps its id, its files and its mounts.
    modal.Volume.rename("example-reports", "example-reports-renamed")
    renamed = modal.Volume.from_name("example-reports-renamed")
    print("renamed, still holds:", [e.path for e in renamed.listdir("reports")])
    modal.Volume.rename("example-reports-renamed", "example-reports")
