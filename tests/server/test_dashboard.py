"""The dashboard (/_/) and Prometheus metrics (/_/metrics) on the HTTP gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import nano_modal
from nano_modal.exception import InvalidError
from tests.apps import lifecycle_app
from tests.apps.lifecycle_app import echo
from tests.conftest import Cluster


@pytest.fixture(scope="module")
def base(cluster: Cluster) -> Iterator[str]:
    """The gateway's base URL, with lifecycle_app running and one call made (so it has logs)."""
    with lifecycle_app.app.run():
        url = echo.get_web_url() or ""
        assert httpx.post(url, json={"hello": 1}, timeout=60).status_code == 200
        yield url.split("/" + lifecycle_app.app.app_id)[0]  # type: ignore[operator]


def test_pages_need_the_admin_token(base: str, cluster: Cluster) -> None:
    anonymous = httpx.get(f"{base}/_/", timeout=30)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/_/login"
    wrong = httpx.post(f"{base}/_/login", data={"token": "not-the-token"}, timeout=30)
    assert wrong.status_code == 401 and "is not this server" in wrong.text
    assert "nano_modal_session" not in wrong.cookies
    metrics = httpx.get(f"{base}/_/metrics", timeout=30)
    assert metrics.status_code == 401
    forged = httpx.get(f"{base}/_/", cookies={"nano_modal_session": cluster.token}, timeout=30)
    assert forged.status_code == 303  # the cookie is an HMAC of the token, not the token


def test_overview_and_app_page(base: str, cluster: Cluster) -> None:
    with httpx.Client(base_url=base, timeout=30) as browser:
        signed_in = browser.post("/_/login", data={"token": cluster.token})
        assert signed_in.status_code == 303 and cluster.token not in str(signed_in.headers)
        overview = browser.get("/_/")
        assert overview.status_code == 200
        app_id = lifecycle_app.app.app_id
        assert f"/_/apps/{app_id}" in overview.text and "lifecycle-tests" in overview.text
        assert "Workers" in overview.text and "alive-true" in overview.text
        page = browser.get(f"/_/apps/{app_id}")
        assert page.status_code == 200
        for name in ("echo", "Greeter", "fastapi_endpoint", "asgi_app"):
            assert name in page.text
        assert browser.get("/_/apps/ap-missing").status_code == 404


def test_html_is_escaped(base: str, cluster: Cluster) -> None:
    app = nano_modal.App("<script>alert(1)</script>")

    @app.function(serialized=True)
    def f() -> int:
        return 1

    with app.run():
        f.remote()
        page = httpx.get(f"{base}/_/", headers={"Authorization": f"Bearer {cluster.token}"}, timeout=30)
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


def test_prometheus_metrics(base: str, cluster: Cluster) -> None:
    response = httpx.get(f"{base}/_/metrics", headers={"Authorization": f"Bearer {cluster.token}"}, timeout=30)
    assert response.status_code == 200
    text = response.text
    assert 'nano_modal_workers{alive="true"}' in text
    assert 'nano_modal_queued_inputs{app="lifecycle-tests",function="echo"} 0.0' in text
    assert 'nano_modal_apps{state="running"}' in text
    # For soak runs (bench/bench_soak.py): what the scheduler walks, and how long its passes take.
    assert "nano_modal_containers_known " in text
    assert 'nano_modal_scheduler_pass_seconds{stat="mean"}' in text


def test_the_server_froze_its_start_up_heap(base: str, cluster: Cluster) -> None:
    # Its collections skip what start-up made (nano_modal/_utils/heap.py): a full one walked all
    # of it, tens of ms of a loop every call waits on.
    response = httpx.get(f"{base}/_/metrics", headers={"Authorization": f"Bearer {cluster.token}"}, timeout=30)
    frozen = [line for line in response.text.splitlines() if line.startswith("nano_modal_server_frozen_objects ")]
    assert frozen, "no nano_modal_server_frozen_objects on /_/metrics"
    assert float(frozen[0].split()[1]) > 10_000  # the imported modules' objects, at least


def test_app_names_under_the_dashboard_prefix_are_refused(cluster: Cluster) -> None:
    app = nano_modal.App("fine-name")

    @app.function(serialized=True)
    def f() -> int:
        return 1

    with pytest.raises(InvalidError, match="invalid app name '_private'"):
        app.deploy(name="_private")


def test_cli_prints_the_dashboard_address(base: str, cluster: Cluster) -> None:
    from tests.test_deploy import cli

    out = cli(cluster, "dashboard").stdout
    assert f"dashboard: {base}/_/" in out and cluster.token not in out
