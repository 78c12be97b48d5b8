"""Blob collection (server/blob_gc.py), driven directly: rows in a real store (SQLite and
PostgreSQL), blobs in a real directory, their ages set by hand. What something names is
kept, whatever its age; what nothing names goes once it is older than the grace period."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.server import blob_gc
from nano_modal.server.blobs import BlobStore
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.store import AppRow, CallRow, DeploymentRow, FunctionRow, InputRow, OutputRow

GRACE = 60.0
OLD = time.time() - 10 * GRACE


def _blob(blobs: BlobStore, content: bytes, age: float = OLD) -> str:
    blob_id = hashlib.sha256(content).hexdigest()
    blobs.put(blob_id, [content])
    os.utime(blobs.path(blob_id), (age, age))
    return blob_id


def _definition(**fields: str) -> bytes:
    return api_pb2.FunctionDefinition(**fields).SerializeToString()  # type: ignore[arg-type]


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_named_blobs_stay_and_the_rest_goes(any_store: SqlStore, blobs: BlobStore) -> None:
    b = {
        name: _blob(blobs, f"content of {name}".encode())
        for name in (
            *("argument", "result", "code", "stopped_code", "deployed_code"),
            *("in_memory", "orphan", "mount_file", "published"),
        )
    }
    b["young_orphan"] = _blob(blobs, b"just uploaded", age=time.time())
    b["modal_argument"] = _blob(blobs, b"a Modal client's large argument")
    # A Modal bundle: a JSON manifest naming a mount's file, itself named by a live definition.
    b["manifest"] = _blob(blobs, json.dumps({"app.py": [b["mount_file"], 420]}).encode())
    partial = blobs.root / ".upload-abandoned"
    partial.write_bytes(b"half an upload")
    os.utime(partial, (OLD, OLD))

    now = time.time()
    any_store.create_app(AppRow("ap-live", "live", "deployed", False, now, version=1))
    any_store.create_app(AppRow("ap-gone", "gone", "stopped", True, now))
    any_store.create_function(FunctionRow("fu-live", "ap-live", "f", _definition(pickled_blob_id=b["code"]), now))
    any_store.create_function(FunctionRow("fu-bundle", "ap-live", "m", _definition(source_blob_id=b["manifest"]), now))
    any_store.create_function(
        FunctionRow("fu-gone", "ap-gone", "f", _definition(pickled_blob_id=b["stopped_code"]), now)
    )
    spec = api_pb2.AppDeployRequest(definitions=[api_pb2.FunctionDefinition(pickled_blob_id=b["deployed_code"])])
    any_store.add_deployment(DeploymentRow("ap-live", 1, "v1", now, spec.SerializeToString()))
    published = api_pb2.ImageSpec(steps=[api_pb2.ImageStep(kind="add_local", blob_id=b["published"])])
    any_store.publish_image("main", "weights:v1", published.SerializeToString())  # Image.publish
    any_store.create_call(
        CallRow("fc-1", "fu-live", api_pb2.CALL_KIND_MAP, 2, True, False, now),
        [
            InputRow("in-1", "fc-1", "fu-live", 0, b"", b["argument"]),
            InputRow("in-2", "fc-1", "fu-live", 1, b"\x0a\x44bl-" + b["modal_argument"].encode(), ""),
        ],
    )
    any_store.add_outputs([OutputRow("fc-1", "in-1", 0, api_pb2.OUTPUT_STATUS_SUCCESS, b"", b["result"], "", "", True)])

    in_memory = [_definition(pickled_blob_id=b["in_memory"])]  # a sandbox's, say: held by the server only
    done = blob_gc.collect(any_store, blobs, in_memory, grace=GRACE)

    gone = {name for name, blob_id in b.items() if not blobs.path(blob_id).exists()}
    assert gone == {"stopped_code", "orphan"}
    assert not partial.exists()
    assert (done.deleted, done.kept) == (3, len(b) - 2)


def test_asking_for_a_blob_keeps_it_for_a_grace_period(any_store: SqlStore, blobs: BlobStore) -> None:
    """A client told "you have it, do not upload it" names the blob next: it must still be there."""
    asked, ignored = _blob(blobs, b"asked about"), _blob(blobs, b"nobody asked")
    assert blobs.has(asked)
    blob_gc.collect(any_store, blobs, grace=GRACE)
    assert blobs.path(asked).exists() and not blobs.path(ignored).exists()


def test_forgetting_a_call_frees_its_blobs(any_store: SqlStore, blobs: BlobStore) -> None:
    argument = _blob(blobs, b"a large argument")
    any_store.create_app(AppRow("ap-1", "a", "running", True, OLD))
    any_store.create_call(
        CallRow("fc-old", "fu-1", api_pb2.CALL_KIND_REMOTE, 1, True, False, OLD),
        [InputRow("in-1", "fc-old", "fu-1", 0, b"", argument)],
    )
    blob_gc.collect(any_store, blobs, grace=GRACE)
    assert blobs.path(argument).exists()
    any_store.delete_calls_before(time.time() - GRACE)
    blob_gc.collect(any_store, blobs, grace=GRACE)
    assert not blobs.path(argument).exists()
