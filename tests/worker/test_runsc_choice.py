"""Which runsc the gvisor runtime runs (worker/runsc.py): NANO_MODAL_RUNSC, else the newest of
the worker's cache and PATH; and what an old one means: no outbound network, said once."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.worker import runsc
from nano_modal.worker.gvisor import GVisorRuntime


def _fake_runsc(path: Path, version: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'runsc version {version}'\necho 'spec: 1.0.2'\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv(runsc.ENV_RUNSC, raising=False)
    monkeypatch.setattr(runsc, "RUNSC_CACHE", tmp_path / "cache")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    runsc.version.cache_clear()
    yield tmp_path
    runsc.version.cache_clear()


def test_the_newest_runsc_wins_and_the_setting_overrides_it(fake_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _fake_runsc(fake_host / "bin" / "runsc", "0.0~20221219.0")
    assert runsc.binary() == old
    new = _fake_runsc(fake_host / "cache" / "0.0~20240729.0" / "runsc", "0.0~20240729.0")
    assert runsc.binary() == new and runsc.version(new) == 20240729 and runsc.sandbox_network(new)
    assert not runsc.sandbox_network(old)
    upstream = _fake_runsc(fake_host / "cache" / "release-20250101.0" / "runsc", "release-20250101.0")
    assert runsc.binary() == upstream and runsc.network_check_mask(upstream) is None  # its check is right
    assert runsc.network_check_mask(new) is not None
    monkeypatch.setenv(runsc.ENV_RUNSC, old)
    assert runsc.binary() == old


def test_an_old_runsc_means_no_outbound_network_said_once(fake_host: Path, caplog: pytest.LogCaptureFixture) -> None:
    _fake_runsc(fake_host / "bin" / "runsc", "0.0~20221219.0")
    with caplog.at_level(logging.WARNING, logger="nano_modal.worker"):
        runtime = GVisorRuntime()
    assert not runtime.sandbox_network
    said = [r.getMessage() for r in caplog.records if "no outbound network" in r.getMessage()]
    assert said == ["runsc 20221219 is older than 20240729: gVisor containers get no outbound network "
                    "(scripts/test.sh installs a newer one)"]  # fmt: skip
