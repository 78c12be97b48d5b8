"""cgroup limits on containers: a memory hog is OOM-killed with a message that names the limit,
a fork bomb is stopped, and in both cases the worker goes on serving the next call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.worker._drive import drive, require

RUNTIMES = ["bwrap", "gvisor", "process"]


@pytest.fixture(scope="module", params=RUNTIMES)
def limits(
    request: pytest.FixtureRequest,
    isolated_cluster: Callable[..., Cluster],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    if request.param != "process":
        require(request.param)
    cluster = isolated_cluster(request.param)
    calls = [
        ("hog", "hog_memory", [1024]),
        ("after_hog", "ping", []),
        ("bomb", "fork_bomb", [20.0]),
        ("after_bomb", "ping", []),
    ]
    results = drive(cluster, tmp_path_factory.mktemp(f"limits-{request.param}"), calls)
    results["_runtime"] = request.param
    return results


def test_memory_hog_dies_with_the_limit_in_the_error(limits: dict[str, Any]) -> None:
    hog = limits["hog"]
    assert hog.get("error") == "ContainerDiedError", hog
    assert "out of memory: limit 64 MiB" in hog["message"], hog["message"]


def test_worker_serves_after_an_oom_kill(limits: dict[str, Any]) -> None:
    assert limits["after_hog"] == {"ok": "pong"}


def test_fork_bomb_is_bounded(limits: dict[str, Any]) -> None:
    bomb = limits["bomb"]
    if limits["_runtime"] == "gvisor" and "error" in bomb:
        # gVisor's processes are its own; the host's pids limit may stop its sandbox as a whole.
        assert bomb["error"] == "ContainerDiedError", bomb
        assert "too many processes: limit" in bomb["message"], bomb["message"]
        return
    assert "ok" in bomb, bomb
    assert bomb["ok"]["error"] == "EAGAIN", bomb
    assert bomb["ok"]["forks"] < 1024


def test_worker_serves_after_a_fork_bomb(limits: dict[str, Any]) -> None:
    assert limits["after_bomb"] == {"ok": "pong"}
