"""Concurrent web requests spread over the parameter sets of a class endpoint: each answers
(seen: 1-3 of 30 hung until the gateway's 504, and their containers stayed "running")."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.apps import lifecycle_app
from tests.apps.lifecycle_app import echo
from tests.conftest import Cluster

REQUESTS = 30
CONCURRENT = 8
GREETINGS = ("hello", "hi", "hey")  # three parameter sets: three container pools


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[None]:
    with lifecycle_app.app.run():
        yield


def test_concurrent_requests_over_three_parameter_sets_all_answer(running: None) -> None:
    base = (echo.get_web_url() or "").replace("/echo/", "/Greeter.greet/")

    def ask(i: int) -> tuple[int, str]:
        greeting = GREETINGS[i % len(GREETINGS)]
        response = httpx.get(base, params={"name": f"n{i}", "greeting": greeting}, timeout=170)
        return response.status_code, response.text

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(ask, range(REQUESTS)))
    assert [status for status, _ in answers] == [200] * REQUESTS, [a for a in answers if a[0] != 200]
    for i, (_, text) in enumerate(answers):
        assert f"{GREETINGS[i % len(GREETINGS)]} n{i}" in text
