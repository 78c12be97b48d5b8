"""Where a container unpacks the app's source."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from nano_modal.container import loader


def _archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"VALUE = 42\n"
        info = tarfile.TarInfo("app_module.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_source_goes_under_the_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = loader._unpack_source(_archive())
    assert src == str(tmp_path / "src") and (tmp_path / "src" / "app_module.py").read_text() == "VALUE = 42\n"


def test_a_workdir_that_is_not_ours_to_write_gets_the_source_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image whose WORKDIR belongs to another user (or is read-only): the source still unpacks."""
    workdir = tmp_path / "owned-by-someone-else"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    real_makedirs = os.makedirs

    def refuse_in_workdir(path: str, *args: object, **kwargs: object) -> None:
        if str(path).startswith(str(workdir)):
            raise PermissionError(13, "Permission denied", str(path))
        real_makedirs(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "makedirs", refuse_in_workdir)
    src = Path(loader._unpack_source(_archive()))
    assert not src.is_relative_to(workdir)
    assert (src / "app_module.py").read_text() == "VALUE = 42\n"
    assert list(workdir.iterdir()) == []
