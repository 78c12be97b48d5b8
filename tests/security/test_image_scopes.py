"""A workspace never gets the layers another workspace's secrets built.

Image ids leave out secrets, and workers reuse a layer for any image with the same steps; so
before, workspace B writing workspace A's image spec (Dockerfile commands are often public)
got A's layers: here, a file a build step wrote from A's secret. The server now gives each
workspace's images a scope and an id of its own (server/images.py), and the builder never
reuses layers across scopes. Driven at both ends: the server's rewrite of a definition, and
real builds on this machine (mmdebstrap, overlayfs) whose files are read after."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nano_modal import Image
from nano_modal.proto import api_pb2
from nano_modal.server.images import for_worker
from nano_modal.worker.images.builder import ImageBuilder
from nano_modal.worker.images.store import BuiltImage, Store
from tests.conftest import Cluster
from tests.helpers import run_script
from tests.worker.test_images import Blobs, _missing, run

A_TOKEN = "workspace-a-private-token-93f1"
# What a step run with A's secret leaves in its layer (a private package, a config, a token).
IMAGE = Image.debian_slim().run_commands('echo "token=${PRIVATE_TOKEN:-none}" > /opt/fetched.txt')


def _spec(image: Image) -> api_pb2.ImageSpec:
    return asyncio.run(image.to_proto(Blobs()))  # type: ignore[arg-type]


def test_the_server_gives_each_workspace_its_own_image_ids() -> None:
    spec = _spec(IMAGE)
    main, a, b = (for_worker(spec, ws) for ws in ("main", "team-a", "team-b"))
    assert main.image_id == spec.image_id and main.cache_scope == ""  # the default workspace: as before
    assert (a.cache_scope, b.cache_scope) == ("team-a", "team-b")
    assert len({main.image_id, a.image_id, b.image_id}) == 3
    # A client's own id and scope are not trusted: B claiming A's gets B's.
    forged = api_pb2.ImageSpec()
    forged.CopyFrom(spec)
    forged.image_id, forged.cache_scope = a.image_id, "team-a"
    assert (for_worker(forged, "team-b").image_id, for_worker(forged, "team-b").cache_scope) == (b.image_id, "team-b")
    # Image.from_id names an image of the caller's workspace: B naming A's id gets no image of A's.
    by_id = api_pb2.ImageSpec(base=api_pb2.ImageBase(kind="id", ref=spec.image_id))
    assert for_worker(by_id, "team-a").base.ref == a.image_id
    assert for_worker(by_id, "team-b").base.ref not in (a.image_id, main.image_id)


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_a_workspace_never_reuses_the_layers_another_workspaces_secret_built() -> None:
    store = Store(Path(os.environ["NANO_MODAL_IMAGES_DIR"]))
    spec = _spec(IMAGE)

    run_id = secrets.token_hex(4)  # workspaces new to the shared image cache: every run builds

    def build(workspace: str, step_secrets: dict[int, dict[str, str]]) -> tuple[BuiltImage, list[str]]:
        lines: list[str] = []
        scoped = for_worker(spec, f"{workspace}-{run_id}")
        built = asyncio.run(ImageBuilder(store).ensure(scoped, Blobs().download_blob, lines.append, step_secrets))
        return built, lines

    a_built, _ = build("team-a", {0: {"PRIVATE_TOKEN": A_TOKEN}})
    assert run(a_built, "cat /opt/fetched.txt") == f"token={A_TOKEN}"
    b_built, b_log = build("team-b", {})
    assert run(b_built, "cat /opt/fetched.txt") == "token=none", b_log
    assert not any("(cached)" in line for line in b_log if line.startswith("Step")), b_log
    # Nothing of B's build holds A's token: read every file its layers hold.
    for layer in b_built.layers:
        for path in layer.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert A_TOKEN.encode() not in path.read_bytes(), path


SCRIPT = """
import os
import nano_modal

app = nano_modal.App("image-scopes")
secrets = [nano_modal.Secret.from_name("image-scopes-token")] if os.environ.get("USE_SECRET") else []
image = nano_modal.Image.debian_slim().run_commands(
    'echo "token=${PRIVATE_TOKEN:-none}" > /opt/fetched-RUN.txt', secrets=secrets
)


@app.function(image=image)
def fetched() -> str:
    return open("/opt/fetched-RUN.txt").read().strip()


if __name__ == "__main__":
    with app.run():
        print("fetched:", fetched.remote())
"""


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_a_workspace_writing_anothers_image_spec_gets_its_own_build(
    isolated_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    """End to end: A (the default workspace) builds with its secret; B, with a token made by the
    CLI, runs the same image spec on the same worker and reads what its own build wrote."""
    cluster = isolated_cluster("bwrap")
    run_id = secrets.token_hex(4)  # a step new to the shared image cache: A's build runs now
    workspace = f"img-b-{run_id}"

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "nano_modal", *args], env=cluster.env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("secret", "create", "image-scopes-token", f"PRIVATE_TOKEN={A_TOKEN}", "--force")
    cli("workspace", "create", workspace)
    b_token = cli("token", "create", "--workspace", workspace).strip().splitlines()[-1]
    source = SCRIPT.replace("RUN", run_id)
    a = run_script(tmp_path, source, env={**cluster.env(), "USE_SECRET": "1"}, timeout=600)
    assert f"fetched: token={A_TOKEN}" in a.stdout, a.stdout + a.stderr
    b = run_script(tmp_path, source, env={**cluster.env(), "NANO_MODAL_TOKEN": b_token}, timeout=600)
    assert "fetched: token=none" in b.stdout, b.stdout + b.stderr
    assert A_TOKEN not in b.stdout + b.stderr
