"""Attacks on the HTTP gateway: proxy auth on every kind of endpoint, the platform's
credentials kept from containers, bounded reads before and after routing, response heads
from hostile containers, and parameter sets of public class endpoints."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.apps import server_security_app as apps
from tests.conftest import Cluster, start_server, start_worker, stop, using

MIB = 1024 * 1024
MAX_BODY = 4 * MIB  # the test server's body limit
MAX_PUBLIC_INSTANCES = 3  # the test server's cap on parameter sets of a public class endpoint
SHORT_TIMEOUT = 2.0  # the test server's header and body timeouts, in seconds
RSS_GROWTH_BOUND = 100 * MIB  # generous: each attack below would cost hundreds of MB


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (VmHWM), from /proc/PID/status: a spike between
    two readings counts even if the memory was freed since."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


@pytest.fixture(scope="module")
def web_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A server of its own (its memory is not shared with other tests) and a worker, with the
    app deployed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NANO_MODAL_WEB_MAX_BODY", str(MAX_BODY))
        patch.setenv("NANO_MODAL_WEB_HEADER_TIMEOUT", str(SHORT_TIMEOUT))
        patch.setenv("NANO_MODAL_WEB_BODY_IDLE_TIMEOUT", str(SHORT_TIMEOUT))
        patch.setenv("NANO_MODAL_WEB_MAX_PUBLIC_INSTANCES", str(MAX_PUBLIC_INSTANCES))
        state_dir = tmp_path_factory.mktemp("web-server")
        token = secrets.token_urlsafe(16)
        server, url = start_server(state_dir, token)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
    cluster = Cluster(url, token, state_dir, server, [worker])
    try:
        with using(cluster), apps.app.run():
            yield cluster
    finally:
        stop(worker)
        stop(server)


@pytest.fixture(scope="module")
def proxy_headers(web_cluster: Cluster) -> dict[str, str]:
    created = subprocess.run(
        [sys.executable, "-m", "nano_modal.cli", "token", "create-proxy"],
        env=web_cluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {
        "Modal-Key": created.split("Modal-Key: ")[1].split()[0],
        "Modal-Secret": created.split("Modal-Secret: ")[1].split()[0],
    }


def _base(cluster: Cluster) -> str:
    url = apps.public_echo.get_web_url() or ""
    return url.rsplit("/", 2)[0]  # http://host:port/<app>


GUARDED = [
    ("guarded_function", "POST"),
    ("guarded_asgi", "GET"),
    ("guarded_wsgi", "GET"),
    ("guarded_web_server", "GET"),
    ("Guarded.whoami", "GET"),
    ("Guarded.whoami?tag=bound", "GET"),  # a new parameter set: refused before it is created
]


@pytest.mark.parametrize(("endpoint", "method"), GUARDED)
def test_proxy_auth_is_enforced_on_every_kind_of_endpoint(
    web_cluster: Cluster, proxy_headers: dict[str, str], endpoint: str, method: str
) -> None:
    url = f"{_base(web_cluster)}/{endpoint}"
    functions_before = _stored_functions(web_cluster)
    for headers in ({}, {"Modal-Key": proxy_headers["Modal-Key"], "Modal-Secret": "wrong"}):
        denied = httpx.request(method, url, headers=headers, json={"a": 1}, timeout=120)
        assert denied.status_code == 401, denied.text
    assert _stored_functions(web_cluster) == functions_before  # no instance bound for a refused caller
    allowed = httpx.request(method, url, headers=proxy_headers, json={"a": 1}, timeout=120)
    assert allowed.status_code == 200, allowed.text


def _stored_functions(cluster: Cluster) -> int:
    import sqlite3

    with sqlite3.connect(cluster.state_dir / "state.db") as db:
        count: int = db.execute("select count(*) from functions").fetchone()[0]
    return count


@pytest.mark.parametrize("endpoint", ["guarded_asgi", "guarded_wsgi", "guarded_web_server", "public_echo"])
def test_platform_credentials_never_reach_the_container(
    web_cluster: Cluster, proxy_headers: dict[str, str], endpoint: str
) -> None:
    headers = {**proxy_headers, "Authorization": f"Bearer {web_cluster.token}", "X-Own": "kept"}
    response = httpx.get(f"{_base(web_cluster)}/{endpoint}", headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    got = response.json()
    seen = {k.lower(): v for k, v in got.get("headers", got).items()}
    assert seen.get("x-own") == "kept"
    assert "modal-key" not in seen and "modal-secret" not in seen and "authorization" not in seen
    assert proxy_headers["Modal-Secret"] not in response.text and web_cluster.token not in response.text


def _post_raw(url: str, length: int, send: int) -> bytes:
    """POST `send` bytes of a body that claims `length`, over a raw socket; the status line."""
    parsed = httpx.URL(url)
    with socket.create_connection((parsed.host, parsed.port or 80), timeout=120) as sock:
        head = f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
        sock.sendall(head.encode())
        chunk = b"\0" * MIB
        try:
            for _ in range(send // MIB):
                sock.sendall(chunk)
        except OSError:
            pass  # the fixed gateway answers and hangs up without reading the body
        return sock.recv(200).split(b"\r\n", 1)[0]


def test_a_big_post_to_a_missing_endpoint_is_not_read(web_cluster: Cluster) -> None:
    before = peak_rss_bytes(web_cluster.server.pid)
    status = _post_raw(f"{_base(web_cluster)}/no-such-endpoint", 400 * MIB, 400 * MIB)
    grew = peak_rss_bytes(web_cluster.server.pid) - before
    assert status.startswith(b"HTTP/1.1 404"), status
    assert grew < RSS_GROWTH_BOUND, f"server peak RSS grew {grew / MIB:.0f} MiB"


def test_a_body_past_the_limit_is_refused(web_cluster: Cluster) -> None:
    url = f"{_base(web_cluster)}/public_echo"
    small = httpx.post(url, content=b"x" * MIB, timeout=120)
    assert small.status_code == 200 and small.json()["size"] == MIB
    assert _post_raw(url, 10 * MAX_BODY, 0).startswith(b"HTTP/1.1 413")  # declared too large
    chunks = (b"x" * MIB for _ in range(2 * MAX_BODY // MIB))  # chunked: no length declared
    assert httpx.post(url, content=chunks, timeout=120).status_code == 413


def test_silent_and_stalled_requests_are_dropped(web_cluster: Cluster) -> None:
    parsed = httpx.URL(_base(web_cluster))
    with socket.create_connection((parsed.host, parsed.port or 80), timeout=60) as sock:
        sock.sendall(b"GET /x/y HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
        assert sock.recv(100) == b""
    url = httpx.URL(f"{_base(web_cluster)}/public_echo")
    with socket.create_connection((parsed.host, parsed.port or 80), timeout=60) as sock:
        sock.sendall(f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize("kind", ["int", "huge"])
def test_a_hostile_response_head_is_a_502(web_cluster: Cluster, kind: str) -> None:
    before = peak_rss_bytes(web_cluster.server.pid)
    response = httpx.get(f"{apps.bad_headers.get_web_url()}?{kind}", timeout=120)
    grew = peak_rss_bytes(web_cluster.server.pid) - before
    assert response.status_code == 502 and "x-bad" not in response.headers
    assert grew < RSS_GROWTH_BOUND, f"server peak RSS grew {grew / MIB:.0f} MiB"


def test_public_class_endpoints_bind_a_bounded_number_of_instances(
    web_cluster: Cluster, proxy_headers: dict[str, str]
) -> None:
    url = f"{_base(web_cluster)}/Public.whoami"
    assert httpx.get(f"{url}?tag=first", timeout=120).text == '"public first"'
    before = _stored_functions(web_cluster)
    answers: list[int] = []

    def probe(i: int) -> None:  # distinct parameter sets; none is called past the cap
        answers.append(httpx.get(f"{url}?tag=t{i}", timeout=120).status_code)

    threads = [threading.Thread(target=probe, args=(i,)) for i in range(MAX_PUBLIC_INSTANCES + 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert answers.count(429) >= 5
    assert _stored_functions(web_cluster) - before < MAX_PUBLIC_INSTANCES  # "first" is one of them
    assert httpx.get(f"{url}?tag=first", timeout=120).status_code == 200  # known ones still answer
    assert httpx.get(f"{url}?tag=more", headers=proxy_headers, timeout=120).status_code == 200


def test_a_websocket_app_that_does_not_read_is_cut_off(web_cluster: Cluster) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = (apps.deaf_websocket.get_web_url() or "").replace("http://", "ws://")
    before = peak_rss_bytes(web_cluster.server.pid)
    chunk = b"\0" * MIB
    with connect(url, open_timeout=120, max_size=None) as ws, pytest.raises(ConnectionClosed) as closed:
        for _ in range(400):  # 400 MiB, if the gateway kept taking it
            ws.send(chunk)
        ws.recv(timeout=60)
    grew = peak_rss_bytes(web_cluster.server.pid) - before
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert grew < RSS_GROWTH_BOUND, f"server peak RSS grew {grew / MIB:.0f} MiB"
