"""The worker's part of CloudBucketMounts (_bucket_sync.py says what moves when): copying
buckets in before a container starts and its changes out after it exits, and the words
for when that fails."""

from __future__ import annotations

import asyncio
import logging

from .._bucket_sync import BucketMount, download, upload

log = logging.getLogger("nano_modal.worker")


class BucketDownloadError(Exception):
    """A bucket could not be copied into a container: it does not start."""


async def download_buckets(buckets: list[BucketMount], link: bool) -> None:
    for mount in buckets:
        try:
            await asyncio.to_thread(download, mount, link)
        except Exception as exc:
            raise BucketDownloadError(f"could not copy {mount.where} to {mount.path}: {_short(exc)}") from exc


def start_failure(exc: Exception) -> str:
    """Why a container did not start, for its exit reason."""
    if isinstance(exc, BucketDownloadError):
        return str(exc)
    return f"the runtime could not start it: {exc}"


async def upload_buckets(container_id: str, buckets: list[BucketMount]) -> str:
    """Copy each writable bucket's changes back; "" or what failed (also logged)."""
    failed = []
    for mount in buckets:
        try:
            changed = await asyncio.to_thread(upload, mount)
            if changed:
                log.info("container %s: %d object(s) of %s updated", container_id, changed, mount.where)
        except Exception as exc:
            log.exception("container %s: could not copy %s back", container_id, mount.where)
            failed.append(f"its changes to {mount.where} were NOT copied back: {_short(exc)}")
    return "; ".join(failed)


def _short(exc: Exception) -> str:
    """botocore's errors say the operation and the service's own code: one line of it."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
