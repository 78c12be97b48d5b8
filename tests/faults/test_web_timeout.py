"""A web request the endpoint does not answer in time: the gateway answers 504 and cancels
the call, so the container is freed (issue 17: containers stayed "running" past their
scaledown_window, their CPU reserved, holding requests nobody waited for any more)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import httpx
import pytest

from nano_modal.proto import api_pb2
from tests.faults.cluster import FaultCluster, wait_until

RESPONSE_TIMEOUT = 3  # the gateway's NANO_MODAL_WEB_RESPONSE_TIMEOUT here (default 150 s)

SLOW_ENDPOINT_CLIENT = """
import sys, time
from pathlib import Path
import nano_modal

app = nano_modal.App("web-timeout")


@app.function(scaledown_window=2)
@nano_modal.fastapi_endpoint()
def stuck() -> str:
    time.sleep(3600)  # far past the gateway's timeout and the test's patience
    return "never"


if __name__ == "__main__":
    with app.run():
        Path(sys.argv[1]).write_text(stuck.get_web_url() or "")
        time.sleep(3600)  # keeps the app running until the test ends
"""


def _containers(cluster: FaultCluster) -> list[api_pb2.ContainerSummary]:
    listed = cluster.rpc("ContainerList", api_pb2.ContainerListRequest(include_finished=True))
    return [c for c in listed.containers if c.app_name == "web-timeout"]


@pytest.mark.parametrize("ending", ["504", "client gone"])
def test_an_unanswered_request_cancels_its_call_and_frees_its_container(
    fault_cluster: Callable[..., FaultCluster], ending: str
) -> None:
    # "client gone": the client gives up long before the gateway would.
    timeout = RESPONSE_TIMEOUT if ending == "504" else 3600
    cluster = fault_cluster(overrides={"NANO_MODAL_WEB_RESPONSE_TIMEOUT": str(timeout)})
    cluster.start_server()
    cluster.start_worker()
    url_file = cluster.state_dir / "url"
    client = cluster.run_client(SLOW_ENDPOINT_CLIENT, str(url_file))
    wait_until("the app to run", lambda: url_file.exists() and bool(url_file.read_text()), timeout=120)
    assert client.poll() is None, cluster.client_log()

    if ending == "504":
        response = httpx.get(url_file.read_text(), timeout=120)
        assert response.status_code == 504, response.text
    else:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(url_file.read_text(), timeout=RESPONSE_TIMEOUT)

    def running() -> list[str]:
        return [c.container_id for c in _containers(cluster) if c.state == "running"]

    wait_until("a container to serve the request", lambda: bool(_containers(cluster)), timeout=60)
    wait_until("the container to stop running", lambda: not running(), timeout=90)
    with sqlite3.connect(cluster.state_dir / "state.db") as db:
        calls = list(db.execute("SELECT cancelled FROM calls"))
        outputs = list(db.execute("SELECT status FROM outputs WHERE final"))
    assert calls == [(1,)]  # the request's call (the only call of this server)
    assert outputs == [(api_pb2.OUTPUT_STATUS_CANCELLED,)]
    assert client.poll() is None, cluster.client_log()  # the app itself kept running
