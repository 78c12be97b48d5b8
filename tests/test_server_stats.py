"""Server.stats and Server.metrics (nano_modal/_server.py, _stats.py; server/stats.py and
server/web_requests.py) from real requests through the gateway to a real server and worker."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from nano_modal.exception import InvalidError
from tests.conftest import Cluster

PATHS = ("a", "b", "c", "missing/1", "missing/2")  # 3 answered 200, 2 answered 404


@dataclass
class Served:
    began: datetime.datetime
    container_id: str  # the one container that answered them


@pytest.fixture(scope="module")
def served(cluster: Cluster) -> Iterator[Served]:
    from tests.apps import server_stats_app

    with server_stats_app.app.run():
        began = datetime.datetime.now(datetime.UTC)
        url = server_stats_app.Counted.get_url()
        responses = [httpx.get(url + path, timeout=120) for path in PATHS]
        assert [r.status_code for r in responses] == [200, 200, 200, 404, 404]
        assert len({r.text for r in responses}) == 1  # one container answered them all
        yield Served(began, responses[0].text)


def test_server_stats_count_requests_by_status(served: Served) -> None:
    from tests.apps.server_stats_app import Counted

    stats = Counted.stats(since=served.began)
    assert stats.request_count == len(PATHS)
    assert stats.request_count_by_status_code == {200: 3, 404: 2}
    window = (stats.until - stats.since).total_seconds()
    assert stats.since == served.began and stats.request_rate_per_second == pytest.approx(len(PATHS) / window)
    latency = stats.request_percentile_stats["End-to-end latency (s)"]
    assert [p.percentile for p in latency.percentiles] == [50.0, 90.0, 99.0] and latency.percentiles[0].value > 0
    assert stats.container_total_count == 1 and stats.container_error_count == 0
    assert stats.inference is None


def test_server_stats_keep_to_the_window_and_container(served: Served) -> None:
    from tests.apps.server_stats_app import Counted

    before = Counted.stats(since=served.began - datetime.timedelta(hours=1), until=served.began)
    assert (before.request_count, before.request_count_by_status_code) == (0, {})
    mine = Counted.stats(since=served.began, container=served.container_id)
    assert (mine.request_count, mine.request_count_by_status_code) == (len(PATHS), {200: 3, 404: 2})
    other = Counted.stats(since=served.began, container="ta-not-a-container")
    assert (other.request_count, other.request_count_by_status_code) == (0, {})
    with pytest.raises(InvalidError, match="before"):
        Counted.stats(since=served.began, until=served.began)


def test_server_metrics_series_are_its_requests(served: Served) -> None:
    from tests.apps.server_stats_app import Counted

    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)  # the current minute, whole
    metrics = Counted.metrics.export(since=served.began, until=until, bucket_size=datetime.timedelta(minutes=1))
    assert metrics.object_id == Counted.object_id
    # A 404 is an answer: each request is a successful input of the Server's function.
    assert sum(p.value or 0 for p in metrics["successful_calls_count"].points) == len(PATHS)
    assert "calls" in Counted.metrics.schema()
