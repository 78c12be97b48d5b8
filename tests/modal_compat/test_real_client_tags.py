"""App tags and Volume.rename with the real client from PyPI (modal_compat: AppCreate's tags,
AppSetTags, AppGetTags, VolumeRename)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; `modal run` starts an app")

TAGS_APP = """
import modal

app = modal.App("nano-compat-tags", tags={"team": "ml"})


@app.local_entrypoint()
def main():
    print("tags:", app.get_tags())
    app.set_tags({"stage": "prod"})
    print("after set_tags:", app.get_tags())
    vol = modal.Volume.from_name("compat-rename-a", create_if_missing=True).hydrate()
    modal.Volume.rename("compat-rename-a", "compat-rename-b")
    print("renamed:", modal.Volume.from_name("compat-rename-b").hydrate().object_id == vol.object_id)
    try:
        modal.Volume.from_name("compat-rename-a").hydrate()
    except modal.exception.NotFoundError:
        print("old name: gone")
"""


def test_app_tags_and_volume_rename(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    write_app(tmp_path, TAGS_APP)
    run = modal_cluster.modal("run", "app.py", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("tags: {'team': 'ml'}", "after set_tags: {'stage': 'prod'}", "renamed: True", "old name: gone"):
        assert line in run.stdout, run.stdout + run.stderr
