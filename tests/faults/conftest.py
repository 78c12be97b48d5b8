"""Fixtures of the fault tests (the machinery is in cluster.py, which bench/bench_faults.py shares)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.cluster import FaultCluster


@pytest.fixture
def fault_cluster(tmp_path: Path) -> Iterator[Callable[..., FaultCluster]]:
    made: list[FaultCluster] = []

    def make(store_url: str | None = None, **kwargs: Any) -> FaultCluster:
        cluster = FaultCluster(tmp_path / f"c{len(made)}", store_url, **kwargs)
        cluster.state_dir.mkdir()
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.close()
