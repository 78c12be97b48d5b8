"""modal.Server through a real server and worker: deployed with the CLI, requested over HTTP,
looked up by name (in another process) and by id, its scaling changed while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

import nano_modal
from nano_modal.exception import InvalidError, NotFoundError
from tests.conftest import Cluster
from tests.helpers import REPO, wait_for

SERVER_APP = REPO / "tests" / "apps" / "server_app.py"


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> Iterator[nano_modal.Server]:
    env = {**cluster.env(), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "nano_modal", "deploy", str(SERVER_APP)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "/server-test/Echo/" in out.stdout  # deploy prints the Server's URL with the endpoints'
    yield nano_modal.Server.from_name("server-test", "Echo")


def test_a_deployed_server_answers_at_its_url(deployed: nano_modal.Server) -> None:
    url = deployed.get_url()
    assert url is not None and url.endswith("/server-test/Echo/")
    response = httpx.get(url + "hello?x=1", timeout=120)
    assert response.status_code == 200
    container_id, path = response.text.split()
    assert container_id.startswith("ta-") and path == "/hello?x=1"
    # What its containers print is the Server's log.
    assert wait_for(lambda: any("served /hello" in e.message for e in deployed.logs.tail()), timeout=30)


def test_from_name_in_another_process_and_from_id(deployed: nano_modal.Server, cluster: Cluster) -> None:
    code = (
        "import json, nano_modal\n"
        "server = nano_modal.Server.from_name('server-test', 'Echo')\n"
        "info = server.info()\n"
        "print(json.dumps([server.get_url(), server.hydrate().object_id, info.port, info.unauthenticated]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**cluster.env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    url, server_id, port, unauthenticated = json.loads(out.stdout)
    assert (url, port, unauthenticated) == (deployed.get_url(), 8094, True)
    by_id = nano_modal.Server.from_id(server_id)
    # An id alone finds the app (FunctionGetResponse.app_id): its URL names the app by id.
    assert by_id.get_url().endswith("/Echo/") and httpx.get(by_id.get_url(), timeout=120).status_code == 200
    assert by_id.info().port == 8094
    # The deployed app lists it among its Servers, not its functions.
    info = nano_modal.App.lookup("server-test").info()
    assert (info.servers, info.functions) == ({"Echo": server_id}, {})


def test_update_autoscaler_starts_containers_while_it_runs(deployed: nano_modal.Server) -> None:
    server_id = deployed.hydrate().object_id
    assert server_id is not None
    load = nano_modal.Function.from_id(server_id)
    try:
        settings = deployed.update_autoscaler(min_containers=2, scaledown_window=30)
        assert (settings.min_containers, settings.scaledown_window) == (2, 30)
        assert deployed.autoscaler.settings() == settings
        assert wait_for(lambda: load.get_current_stats().num_total_runners >= 2, timeout=120)
        # Requests per container are fixed at deploy time: asking for others says so.
        with pytest.raises(InvalidError, match="redeploy"):
            deployed.update_autoscaler(target_concurrency=3)
        assert deployed.update_autoscaler(target_concurrency=settings.target_concurrency) == settings
    finally:
        deployed.autoscaler.update(min_containers=0)
    assert deployed.autoscaler.settings().min_containers == 0


def test_lookups_of_what_is_not_a_server_fail_with_what_it_is(deployed: nano_modal.Server) -> None:
    del deployed
    with pytest.raises(NotFoundError):
        nano_modal.Server.from_name("server-test", "NoSuchServer").hydrate()


def test_server_classes_refuse_what_modal_refuses() -> None:
    app = nano_modal.App("server-refusals")
    with pytest.raises(InvalidError, match=r"@nano_modal\.enter"):

        @app.server(port=8000)
        class NoEnter:
            pass

    with pytest.raises(InvalidError, match="method"):

        @app.server(port=8000)
        class WithMethod:
            @nano_modal.enter()
            def start(self) -> None: ...

            @nano_modal.method()
            def call(self) -> None: ...

    with pytest.raises(InvalidError, match="port"):
        app.server(port=70000)
    with pytest.raises(InvalidError, match="target_concurrency"):
        app.server(target_concurrency=4, max_concurrency=2)


def test_a_local_servers_url_follows_its_run(cluster: Cluster) -> None:
    from tests.apps import server_app

    urls = []
    for _ in range(2):  # each run is an ephemeral app of its own, with an id (and a URL) of its own
        with server_app.app.run():
            urls.append(server_app.Echo.get_url())
            assert httpx.get(urls[-1] + "run", timeout=120).text.endswith(" /run")
    assert urls[0] != urls[1]
