"""One real ``tpf serve`` with the restaurant pipeline released, shared by the test modules that
drive it from outside (the original's client, the operator commands): starting it once keeps
the suite fast, and each test uses its own executions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer, free_port


@pytest.fixture(scope="session")
def restaurant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``max-retries=0`` so an incident fails at once (the original's incident demo does too)."""
    demo = DemoServer(
        tmp_path_factory.mktemp("restaurant-server"),
        free_port(),
        extra_env={"PIPELINE_ORCHESTRATOR_MAX_RETRIES": "0"},
    )
    demo.start()
    try:
        flows.prepare_release(demo.client(), demo.state_dir / "build")
        yield demo
    finally:
        demo.stop()
