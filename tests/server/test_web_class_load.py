"""Concurrent web requests spread over the parameter sets of a class endpoint: each answers
(issue 17: 1-3 of 30 hung until the gateway's 504, and their containers stayed "running").

The cause was in the container: after a quick input it takes the waiting ones in a batch,
and a streaming input (every web request is one) in a batch lost its outputs when the one
before it had not sent its own yet (tests/container/test_runner_batches.py). The input
stayed held by a live container that never answered it and never scaled down.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nano_modal._utils.aio import run_blocking
from nano_modal.client import Client
from nano_modal.proto import api_pb2
from tests.apps import lifecycle_app
from tests.apps.lifecycle_app import echo
from tests.conftest import Cluster
from tests.helpers import wait_for

REQUESTS = 30
CONCURRENT = 8
GREETINGS = ("hello", "hi", "hey")  # three parameter sets: three container pools
QUEUED_BEHIND = 10  # requests per parameter set that wait behind a slow one
ANSWER_TIMEOUT = 60  # seconds; far more than any request here needs (the gateway's limit is 150)


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[None]:
    with lifecycle_app.app.run():
        yield


def _endpoint(name: str) -> str:
    return (echo.get_web_url() or "").replace("/echo/", f"/{name}/")


def test_concurrent_requests_over_three_parameter_sets_all_answer(running: None) -> None:
    base = _endpoint("Greeter.greet")

    def ask(i: int) -> tuple[int, str]:
        greeting = GREETINGS[i % len(GREETINGS)]
        response = httpx.get(base, params={"name": f"n{i}", "greeting": greeting}, timeout=ANSWER_TIMEOUT)
        return response.status_code, response.text

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(ask, range(REQUESTS)))
    assert [status for status, _ in answers] == [200] * REQUESTS, [a for a in answers if a[0] != 200]
    for i, (_, text) in enumerate(answers):
        assert f"{GREETINGS[i % len(GREETINGS)]} n{i}" in text


def _live_containers(app_id: str) -> list[api_pb2.ContainerSummary]:
    listed = run_blocking(run_blocking(Client.get()).stub.ContainerList(api_pb2.ContainerListRequest()))
    return [c for c in listed.containers if c.app_id == app_id and c.function_name == "QueuedGreeter"]


def test_requests_queued_behind_a_slow_one_all_answer_and_free_their_container(running: None) -> None:
    """Each parameter set's one container is kept busy by a slow request while the others
    queue; it then takes them in batches. Every request answers, and the containers scale
    down afterwards (a container holding an unanswered request stayed "running" for good)."""
    base = _endpoint("QueuedGreeter.greet")

    def ask(greeting: str, name: str, hold: float) -> tuple[int, str]:
        params = {"name": name, "greeting": greeting, "hold": str(hold)}
        try:
            response = httpx.get(base, params=params, timeout=ANSWER_TIMEOUT)
        except httpx.TimeoutException:
            return 0, f"{greeting} {name}: no answer in {ANSWER_TIMEOUT}s"
        return response.status_code, response.text

    with ThreadPoolExecutor(len(GREETINGS) * (QUEUED_BEHIND + 1)) as pool:
        slow = [pool.submit(ask, greeting, "slow", 2.0) for greeting in GREETINGS]
        time.sleep(0.5)  # the slow ones first in their queues
        quick = [
            (greeting, f"n{i}", pool.submit(ask, greeting, f"n{i}", 0.0))
            for i in range(QUEUED_BEHIND)
            for greeting in GREETINGS
        ]
        answers = [(greeting, name, future.result()) for greeting, name, future in quick]
        assert [future.result()[0] for future in slow] == [200] * len(GREETINGS)
    unanswered = [text for _, _, (status, text) in answers if status != 200]
    assert not unanswered, f"{len(unanswered)} of {len(answers)} unanswered: {unanswered}"
    for greeting, name, (_, text) in answers:
        assert f"{greeting} {name}" in text

    app_id = lifecycle_app.app.app_id or ""
    assert wait_for(lambda: not _live_containers(app_id), timeout=30), _live_containers(app_id)
