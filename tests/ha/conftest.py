"""Fixtures of the HA tests: a reset moto server per test and a coordinator cluster factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.aws import reset_moto
from tests.ha.cluster import RESTAURANT, Node, bootstrap, ha_properties, start_nodes, stop_nodes


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ha: several `tpf serve` processes on one moto server (runs in make test)"
    )


@pytest.fixture
def ha_endpoint(moto_endpoint: str) -> str:
    """The session's moto server, emptied (it logs no access line per request: tests/aws.py)."""
    reset_moto(moto_endpoint)
    return moto_endpoint


StartCluster = Callable[..., list[Node]]


@pytest.fixture
def cluster(ha_endpoint: str, tmp_path: Path) -> Iterator[StartCluster]:
    """``cluster(n, pipelines=..., **properties)``: write the HA configuration, bootstrap it with
    ``tpf bootstrap aws`` and start ``n`` coordinators on it; all are stopped at teardown (their
    logs stay in ``tmp_path``)."""
    started: list[Node] = []

    def start(count: int, pipelines: tuple[str, ...] = (RESTAURANT,), **kw: object) -> list[Node]:
        config = tmp_path / "coordinator.properties"
        config.write_text(ha_properties(ha_endpoint, **kw))  # type: ignore[arg-type]
        bootstrap(config, ha_endpoint)
        nodes = start_nodes(count, config, tmp_path, pipelines)
        started.extend(nodes)
        return nodes

    yield start
    stop_nodes(started)
