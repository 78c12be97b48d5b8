"""What a Modal client's image layer that copies files costs the server (modal_compat/image_context.py).

    python bench/bench_image_copies.py [--runs N]

ImageGetOrCreate of `COPY . /` on a context mount: the server writes the mount's files out of
the blob store, reads the COPY line, and tars what it copies into a blob. Measured in process
(no client, no network) for two contexts, each against its floor: `tar_local` of the same
files already in a directory (the tar alone, which any copy needs), and the same request
again, which the server's LayerCache answers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from modal_proto import api_pb2 as pb

from nano_modal._image_parts import tar_local
from nano_modal.server.blobs import BlobStore
from nano_modal.server.modal_compat.images import LayerCache, store_spec, translate

CONTEXTS = {  # label: (files, bytes each)
    "1000 files x 10 KiB": (1000, 10 * 1024),
    "1 file x 100 MiB": (1, 100 * 1024 * 1024),
}


def _mount(blobs: BlobStore, files: dict[str, bytes]) -> str:
    manifest = {}
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        blobs.put(digest, [data])
        manifest[name] = [digest, 0o644]
    data = json.dumps(manifest, sort_keys=True).encode()
    blobs.put(hashlib.sha256(data).hexdigest(), [data])
    return "mo-" + hashlib.sha256(data).hexdigest()


def _median_ms(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        blobs = BlobStore(Path(tmp) / "blobs")
        base = pb.ImageGetOrCreateRequest(image=pb.Image(dockerfile_commands=["FROM python:3.11-slim"]))
        base_id = store_spec(blobs, translate(pb, base, blobs))
        for label, (count, size) in CONTEXTS.items():
            files = {f"/app/f{i}.bin": os.urandom(size) for i in range(count)}
            image = pb.Image(dockerfile_commands=["FROM base", "COPY . /"], context_mount_id=_mount(blobs, files))
            image.base_images.append(pb.BaseImage(docker_tag="base", image_id=base_id))
            request = pb.ImageGetOrCreateRequest(image=image)
            on_disk = Path(tmp) / label.replace(" ", "_")
            for name, data in files.items():
                (on_disk / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                (on_disk / name.lstrip("/")).write_bytes(data)
            layer = _median_ms(partial(translate, pb, request, blobs), args.runs)
            floor = _median_ms(partial(tar_local, on_disk), args.runs)
            cache = LayerCache()  # the next `modal run` of the same project: a hit
            key = cache.key(request)
            cache.put(key, store_spec(blobs, translate(pb, request, blobs)))
            hit = _median_ms(partial(cache.get, key, blobs), args.runs)
            print(
                f"{label}: ImageGetOrCreate translation median {layer[0]:.0f} ms (min {layer[1]:.0f}); "
                f"tar alone median {floor[0]:.0f} ms (min {floor[1]:.0f}); ratio {layer[0] / floor[0]:.1f}x; "
                f"again (LayerCache hit) median {hit[0]:.2f} ms"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
