"""Sticky sessions of a `@sessioned()` Server on a real server and a bwrap worker (each
container has a network namespace of its own, so which container answered is its own id)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

import nano_modal
from nano_modal.exception import InvalidError
from nano_modal.types import ServerSessionCredentials
from tests.conftest import Cluster, using
from tests.helpers import REPO, wait_for

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
SESSIONS_APP = REPO / "tests" / "apps" / "server_sessions_app.py"


def _headers(token: str) -> dict[str, str]:
    return {"Modal-Authorization": f"Bearer {token}"}


def _deployed(isolated_cluster: Callable[..., Cluster]) -> Cluster:
    """A bwrap cluster (each container a network of its own) with the sessions app deployed."""
    cluster = isolated_cluster("bwrap")
    deployed = subprocess.run(
        [sys.executable, "-m", "nano_modal", "deploy", str(SESSIONS_APP)],
        env={**cluster.env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    return cluster


def test_sessions_stick_to_a_container_of_their_own(isolated_cluster: Callable[..., Cluster]) -> None:
    cluster = _deployed(isolated_cluster)
    with using(cluster):
        server = nano_modal.Server.from_name("server-sessions-test", "Sticky")
        url = server.get_url()
        assert url is not None and server.info().sessioned
        assert httpx.get(url, timeout=60).status_code == 401  # a sessioned Server: no token, no container

        def answers(session: ServerSessionCredentials) -> set[str]:
            return {httpx.get(url + "x", headers=_headers(session.token), timeout=120).text for _ in range(4)}

        first, second = server.sessions.start(idle_timeout=300), server.sessions.start(idle_timeout=300)
        first_answers, second_answers = answers(first), answers(second)
        assert len(first_answers) == 1 and len(second_answers) == 1  # every request to one container
        (first_answer,), (second_answer,) = first_answers, second_answers
        assert first_answer.split()[0] != second_answer.split()[0]  # each session has its own
        assert first_answer.endswith("/x token-seen=False")  # the token stays with the gateway

        forged = first.token.split(".")[0] + ".not-the-secret"
        assert httpx.get(url, headers=_headers(forged), timeout=60).status_code == 401
        with pytest.raises(InvalidError):
            server.sessions.terminate(forged)

        server.sessions.terminate(first.token)  # accepted (whether it ends: the test below)
        server.sessions.terminate(second.token)


def test_a_terminated_session_ends(isolated_cluster: Callable[..., Cluster]) -> None:
    cluster = _deployed(isolated_cluster)
    with using(cluster):
        server = nano_modal.Server.from_name("server-sessions-test", "Sticky")
        url = server.get_url()
        assert url is not None
        ending, staying = server.sessions.start(idle_timeout=300), server.sessions.start(idle_timeout=300)
        assert httpx.get(url, headers=_headers(ending.token), timeout=120).status_code == 200
        stayed = httpx.get(url, headers=_headers(staying.token), timeout=120).text
        server.sessions.terminate(ending.token)
        assert wait_for(lambda: httpx.get(url, headers=_headers(ending.token), timeout=60).status_code == 404, 60)
        assert httpx.get(url, headers=_headers(staying.token), timeout=60).text == stayed  # the other goes on
        server.sessions.terminate(staying.token)
