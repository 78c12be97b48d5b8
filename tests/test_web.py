"""Web endpoints through the server's HTTP gateway."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import nano_modal
from nano_modal._utils.aio import run_blocking
from nano_modal.client import Client
from nano_modal.proto import api_pb2
from tests.apps import lifecycle_app
from tests.apps.lifecycle_app import (
    chat,
    echo,
    guarded,
    hostile,
    plain_http_server,
    streaming,
    works_after_answering,
)
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


def test_an_answered_request_keeps_its_container(running: None) -> None:
    """The client has the whole response and leaves while the app still works after answering:
    the call is not cancelled, so its container is not stopped (it was, at every request whose
    client left before the call's end reached the gateway) and stays warm for the next one."""
    url = works_after_answering.get_web_url() or ""
    answered_by = set()
    for _ in range(3):
        response = httpx.get(url, timeout=60)
        assert response.status_code == 200, response.text
        answered_by.add(response.json()["container"])
    time.sleep(2)  # the work after the last answer is over; a stop would have reached the worker
    listed = run_blocking(run_blocking(Client.get()).stub.ContainerList(api_pb2.ContainerListRequest()))
    running = {c.container_id for c in listed.containers if c.state == "running"}
    assert answered_by <= running, (answered_by, running)


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


def _ws_url(http_url: str | None, path: str) -> str:
    assert http_url is not None
    return http_url.replace("http://", "ws://", 1) + path


def test_websocket_through_asgi_app(running: None) -> None:
    with connect(_ws_url(chat.get_web_url(), "ws"), subprotocols=["chat.v1"], open_timeout=60) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "chat.v1"
        for word in ("hello", "world"):
            ws.send(word)
            assert ws.recv(timeout=30) == word.upper()
        ws.send(b"\x00\x01\x02")
        assert ws.recv(timeout=30) == b"\x02\x01\x00"
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    assert closed.value.rcvd.reason == "see you"


def test_websocket_refused_or_unknown(running: None) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(_ws_url(chat.get_web_url(), "refuse"), open_timeout=60)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as missing:
        connect(_ws_url(chat.get_web_url(), "ws").replace("/chat/", "/nope/"), open_timeout=60)
    assert missing.value.response.status_code == 404


def test_websocket_client_leaving_ends_the_session(running: None) -> None:
    """The client hangs up mid-session: the container hears a disconnect and the input ends."""
    for _ in range(3):
        with connect(_ws_url(chat.get_web_url(), "ws"), open_timeout=60) as ws:
            ws.send("ping")
            assert ws.recv(timeout=30) == "PING"
    # The container is free again: a new session is answered promptly by the same pool.
    with connect(_ws_url(chat.get_web_url(), "ws"), open_timeout=60) as ws:
        ws.send("again")
        assert ws.recv(timeout=30) == "AGAIN"


def test_repeated_response_headers_survive(running: None) -> None:
    response = httpx.get(f"{chat.get_web_url()}cookies", timeout=60)
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/; SameSite=lax", "b=2; Path=/; SameSite=lax"]


def test_gateway_refuses_objects_from_a_hostile_container(running: None, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    response = httpx.get(hostile.get_web_url() or "", params={"path": str(marker)}, timeout=60)
    assert not marker.exists(), "the container's pickle ran code in the server"
    assert response.status_code == 502


def test_web_server_proxies_to_the_functions_own_server(running: None) -> None:
    url = plain_http_server.get_web_url() or ""
    got = httpx.post(f"{url}some/path", params={"q": "1"}, content=b"payload", timeout=60)
    assert got.status_code == 201
    assert got.json() == {"method": "POST", "path": "/some/path?q=1", "body": "payload"}
    assert httpx.get(url, timeout=60).json()["path"] == "/"


def test_web_server_bad_arguments() -> None:
    with pytest.raises(nano_modal.exception.InvalidError, match="TCP port"):
        nano_modal.web_server(0)
    with pytest.raises(nano_modal.exception.InvalidError, match="startup_timeout"):
        nano_modal.web_server(8000, startup_timeout=0)
