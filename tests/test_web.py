"""Web endpoints through the server's HTTP gateway."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.apps import lifecycle_app
from tests.apps.lifecycle_app import echo, guarded, streaming
from tests.conftest import Cluster


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[None]:
    with lifecycle_app.app.run():
        yield


def test_fastapi_endpoint_post_json(running: None) -> None:
    url = echo.get_web_url()
    assert url is not None and url.endswith("/echo/")
    response = httpx.post(url, json={"a": [1, 2]}, timeout=60)
    assert response.status_code == 200
    assert response.json() == {"got": {"a": [1, 2]}}


def test_validation_errors_come_back_as_http_errors(running: None) -> None:
    response = httpx.post(echo.get_web_url() or "", content=b"not json", timeout=60)
    assert response.status_code == 422


def test_asgi_app_streams_its_response(running: None) -> None:
    base = streaming.get_web_url()
    arrivals = []
    with httpx.stream("GET", f"{base}ticks", timeout=60) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                arrivals.append(time.time())
    assert len(arrivals) == 3
    # Chunks arrive as they are produced (0.4 s apart), not all at the end.
    assert arrivals[-1] - arrivals[0] > 0.5


def test_endpoint_exception_is_a_500(running: None) -> None:
    response = httpx.get(f"{streaming.get_web_url()}boom", timeout=60)
    assert response.status_code == 500


def test_proxy_auth(running: None, cluster: Cluster) -> None:
    url = guarded.get_web_url() or ""
    assert httpx.get(url, timeout=60).status_code == 401
    assert httpx.get(url, headers={"Modal-Key": "wk-x", "Modal-Secret": "nope"}, timeout=60).status_code == 401
    created = subprocess.run(
        [sys.executable, "-m", "nano_modal.cli", "token", "create-proxy"],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    key = created.split("Modal-Key: ")[1].split()[0]
    secret = created.split("Modal-Secret: ")[1].split()[0]
    response = httpx.get(url, headers={"Modal-Key": key, "Modal-Secret": secret}, timeout=60)
    assert response.status_code == 200 and response.json() == "secret stuff"


def test_unknown_endpoint_and_stopped_app_are_404(cluster: Cluster) -> None:
    with lifecycle_app.app.run():
        url = echo.get_web_url() or ""
        assert httpx.get(url.replace("/echo/", "/nope/"), timeout=30).status_code == 404
    assert httpx.post(url, json={}, timeout=30).status_code == 404


def test_class_endpoint_takes_parameters_from_the_query_string(running: None) -> None:
    base = (echo.get_web_url() or "").replace("/echo/", "/Greeter.greet/")
    plain = httpx.get(base, params={"name": "ann"}, timeout=60)
    assert plain.status_code == 200 and plain.json()["text"] == "hello ann"
    custom = httpx.get(base, params={"name": "bob", "greeting": "hi", "times": "2"}, timeout=60).json()
    assert custom["text"] == "hi bob hi bob"
    assert custom["container"] != plain.json()["container"]  # its own pool for its own parameters
    again = httpx.get(base, params={"name": "cy", "greeting": "hi", "times": "2"}, timeout=60).json()
    assert again["container"] == custom["container"]
    bad = httpx.get(base, params={"name": "x", "times": "many"}, timeout=60)
    assert bad.status_code == 400 and "'times' must be int" in bad.text
