"""Image builds on this worker: base, cached rebuild, a pip layer, a layer shared by two images.

    python bench/bench_images.py [--quick] [--json FILE]

Runs the worker's builder directly (as root: overlayfs, mmdebstrap) against a fresh image
cache in a temporary directory, so the Debian base is really built:

* base: mmdebstrap of Debian bookworm minbase + python3 + pip (one build) and its size;
* cached rebuild of a 6-step image (nothing changed): median of 5 fresh builders;
* pip_install("requests") as a layer on that base (3 builds, each on a different parent so
  none is a cache hit). Peer: the same `pip install requests` on the host into a fresh
  venv of the worker's Python (same network and package index), 3 times;
* two images whose first step is the same pip_install: the layer is stored once (disk use
  of the cache against the sum of the two images' sizes).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as c

from nano_modal import Image
from nano_modal.worker.images.builder import ImageBuilder
from nano_modal.worker.images.store import BuiltImage, Store, du


class Blobs:
    """The two blob calls the builder and Image.to_proto make, in memory (no server here)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def upload_blob(self, data: bytes) -> str:
        self.data[str(len(self.data))] = data
        return str(len(self.data) - 1)

    async def download_blob(self, blob_id: str) -> bytes:
        return self.data[blob_id]


def build(store: Store, image: Image) -> tuple[BuiltImage, float]:
    blobs = Blobs()

    async def go() -> BuiltImage:
        spec = await image.to_proto(blobs)  # type: ignore[arg-type]
        return await ImageBuilder(store).ensure(spec, blobs.download_blob, lambda line: None)

    t0 = time.perf_counter()
    built = asyncio.run(go())
    return built, time.perf_counter() - t0


def host_pip(package: str) -> float:
    """The peer: pip on the host with the same clean configuration the image's pip gets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE="/dev/null", PIP_DISABLE_PIP_VERSION_CHECK="1")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "venv", d], check=True)
        t0 = time.perf_counter()
        argv = [f"{d}/bin/python", "-m", "pip", "install", "-q", "--no-cache-dir", package]
        subprocess.run(argv, check=True, env=env)
        return time.perf_counter() - t0


def main() -> None:
    args = c.parse_args(__doc__ or "")
    if os.geteuid() != 0 or shutil.which("mmdebstrap") is None:
        raise SystemExit("needs root and mmdebstrap (apt-get install -y mmdebstrap)")
    root = Path(tempfile.mkdtemp(prefix="nano-modal-bench-images-"))
    store = Store(root)
    rounds = 1 if args.quick else 3
    try:
        base, base_s = build(store, Image.debian_slim("3.11"))
        base_bytes = du(base.rootfs)
        c.table(
            "base",
            ["what", "value"],
            [["mmdebstrap bookworm + python3 + pip", c.fmt_s(base_s)], ["size", c.fmt_mb(base_bytes)]],
        )

        src = root / "src"
        src.mkdir()
        (src / "app.py").write_text("print('hi')\n")
        full = (
            Image.debian_slim("3.11")
            .apt_install("jq")
            .pip_install("six")
            .run_commands("echo hi > /hi.txt")
            .env({"A": "1"})
            .workdir("/app")
            .add_local_dir(src, "/app/src", copy=True)
        )
        build(store, full)
        cached = [build(store, full)[1] for _ in range(5)]
        c.table(
            "cached rebuild (6 steps, nothing changed)",
            ["median", "max"],
            [[c.fmt_s(c.median(cached)), c.fmt_s(max(cached))]],
        )

        layer = [
            build(store, Image.debian_slim("3.11").env({"RUN": str(i)}).pip_install("requests"))[1]
            for i in range(rounds)
        ]
        peer = [host_pip("requests") for _ in range(rounds)]
        c.table(
            "pip_install('requests') layer",
            ["image layer (median)", "host venv pip (median)", "layer / host"],
            [[c.fmt_s(c.median(layer)), c.fmt_s(c.median(peer)), c.ratio(c.median(layer), c.median(peer))]],
        )

        one, _ = build(store, Image.debian_slim("3.11").pip_install("requests").env({"IMAGE": "one"}))
        two, _ = build(store, Image.debian_slim("3.11").pip_install("requests").run_commands("echo two > /two"))
        shared = one.layers[0]
        assert shared == two.layers[0], "the shared first step should be one layer"
        sizes = [du(shared.parent)] * 2
        c.table(
            "two images sharing pip_install('requests')",
            ["shared layer on disk", "counted per image", "copies stored"],
            [[c.fmt_mb(du(shared.parent)), c.fmt_mb(sum(sizes)), str(len({one.layers[0], two.layers[0]}))]],
        )
        c.write_json(
            args.json,
            "images",
            {
                "base_s": base_s,
                "base_bytes": base_bytes,
                "cached_rebuild_s": cached,
                "pip_requests_layer_s": layer,
                "host_pip_requests_s": peer,
                "shared_layer_bytes": du(shared.parent),
            },
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
