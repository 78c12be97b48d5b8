"""Where the SDK's own protobuf/grpcio/cloudpickle go on sys.path in an image's container."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nano_modal.container._image_deps import place


def _site(root: Path, name: str, *dists: str) -> str:
    directory = root / name
    for dist in dists:
        (directory / f"{dist}.dist-info").mkdir(parents=True)
    directory.mkdir(exist_ok=True)
    return str(directory)


SDK = ("protobuf-7.35.1", "grpcio-1.85.4", "cloudpickle-3.1.3")


def test_the_images_own_versions_win_when_the_sdk_runs_on_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = _site(tmp_path, "image", "protobuf-5.29.5", "grpcio-1.86.0", "cloudpickle-3.0.0")
    deps = _site(tmp_path, "deps", *SDK)
    monkeypatch.setattr(sys, "path", ["", image])
    place(deps)
    assert sys.path == ["", image, deps]
    assert capsys.readouterr().err == ""


def test_versions_the_sdk_cannot_run_on_put_its_copies_first_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = _site(tmp_path, "image", "protobuf-4.25.3", "grpcio-1.60.0", "cloudpickle-2.2.1")
    deps = _site(tmp_path, "deps", *SDK)
    monkeypatch.setattr(sys, "path", ["", image])
    place(deps)
    assert sys.path == ["", deps, image]
    err = capsys.readouterr().err
    assert "the image's protobuf 4.25.3, grpcio 1.60.0, cloudpickle 2.2.1 cannot run" in err
