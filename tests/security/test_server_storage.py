"""Attacks on the server's disk and memory through storage: a large upload is streamed to
disk (the server's peak RSS is read before and after) within a size limit, and a container
printing without end is capped in the state store with a visible marker."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterator

import grpc
import pytest

from nano_modal.proto import api_pb2, api_pb2_grpc
from tests.apps import server_storage_app
from tests.conftest import Cluster, start_server, start_worker, stop, using
from tests.helpers import wait_for
from tests.security.test_server_web import RSS_GROWTH_BOUND, peak_rss_bytes

MIB = 1024 * 1024
MAX_BLOB = 512 * MIB  # the test server's blob limit
CONTAINER_LOG_BYTES = 1 * MIB  # the test server's log budget per container
PRINTED_MB = 100


@pytest.fixture(scope="module")
def storage_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NANO_MODAL_MAX_BLOB", str(MAX_BLOB))
        patch.setenv("NANO_MODAL_LOG_CONTAINER_BYTES", str(CONTAINER_LOG_BYTES))
        state_dir = tmp_path_factory.mktemp("storage-server")
        token = secrets.token_urlsafe(16)
        server, url = start_server(state_dir, token)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
    cluster = Cluster(url, token, state_dir, server, [worker])
    try:
        yield cluster
    finally:
        stop(worker)
        stop(server)


def _content(megabytes: int) -> tuple[str, Iterator[bytes]]:
    """A blob id and the chunks of its content, made as they are sent."""
    chunk = secrets.token_bytes(MIB)
    digest = hashlib.sha256()
    for _ in range(megabytes):
        digest.update(chunk)
    return digest.hexdigest(), (chunk for _ in range(megabytes))


def _upload(cluster: Cluster, megabytes: int) -> str:
    blob_id, chunks = _content(megabytes)
    requests = (api_pb2.BlobChunk(blob_id=blob_id if i == 0 else "", data=c) for i, c in enumerate(chunks))
    with grpc.insecure_channel(cluster.server_url) as channel:
        stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
        stub.BlobPut(requests, metadata=(("x-nano-modal-token", cluster.token),), timeout=600)
    return blob_id


def _blob_files(cluster: Cluster) -> list[str]:
    return sorted(p.name for p in (cluster.state_dir / "blobs").rglob("*") if p.is_file())


def test_a_large_upload_is_streamed_to_disk(storage_cluster: Cluster) -> None:
    before = peak_rss_bytes(storage_cluster.server.pid)
    blob_id = _upload(storage_cluster, 400)
    grew = peak_rss_bytes(storage_cluster.server.pid) - before
    path = storage_cluster.state_dir / "blobs" / blob_id[:2] / blob_id
    assert path.stat().st_size == 400 * MIB
    assert grew < RSS_GROWTH_BOUND, f"server peak RSS grew {grew / MIB:.0f} MiB"

    before = peak_rss_bytes(storage_cluster.server.pid)
    with grpc.insecure_channel(storage_cluster.server_url) as channel:
        stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.BlobGet(
            api_pb2.BlobGetRequest(blob_id=blob_id), metadata=(("x-nano-modal-token", storage_cluster.token),)
        )
        assert sum(len(chunk.data) for chunk in stream) == 400 * MIB
    grew = peak_rss_bytes(storage_cluster.server.pid) - before
    assert grew < RSS_GROWTH_BOUND, f"server peak RSS grew {grew / MIB:.0f} MiB reading it back"


def test_an_upload_past_the_limit_is_refused_and_leaves_nothing(storage_cluster: Cluster) -> None:
    files_before = _blob_files(storage_cluster)
    with pytest.raises(grpc.RpcError) as refused:
        _upload(storage_cluster, MAX_BLOB // MIB + 10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "NANO_MODAL_MAX_BLOB" in (refused.value.details() or "")  # type: ignore[attr-defined]
    assert wait_for(lambda: _blob_files(storage_cluster) == files_before, 30)  # no partial upload left


def _log_bytes(cluster: Cluster) -> tuple[int, int]:
    """Bytes of log text in the store, and the count of truncated markers."""
    with sqlite3.connect(cluster.state_dir / "state.db") as db:
        size, markers = db.execute(
            "select coalesce(sum(length(data)), 0), coalesce(sum(data like '%log output truncated%'), 0) from logs"
        ).fetchone()
    return int(size), int(markers)


def test_a_flood_of_output_is_capped_in_the_store(storage_cluster: Cluster) -> None:
    size_before, _ = _log_bytes(storage_cluster)
    with using(storage_cluster), server_storage_app.app.run():
        assert server_storage_app.shout.remote(PRINTED_MB) == PRINTED_MB
        assert wait_for(lambda: _log_bytes(storage_cluster)[1] == 1, 120)  # the marker, once
    stored = _log_bytes(storage_cluster)[0] - size_before
    assert stored < 2 * CONTAINER_LOG_BYTES, f"{stored / MIB:.1f} MiB of logs stored for {PRINTED_MB} MB printed"
