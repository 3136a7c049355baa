"""One real ``tpf serve`` with the restaurant pipeline released, shared by the test modules that
drive it from outside (the original's client, the operator commands): starting it once keeps
the suite fast, and each test uses its own executions. Its age does not matter: it heartbeats
the worker record of the code it hosts itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demos.restaurant_approval import flows
from demos.restaurant_approval.server import DemoServer, free_port


@pytest.fixture(scope="session")
def restaurant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``max-retries=0`` so an incident fails at once (the original's incident demo does too).

    A short ``stale-after`` (heartbeats every 2.5 s): the server keeps its own worker record
    fresh, so it keeps admitting however long the suite runs before or between its users,
    and a test that leaned on the hand-registered record staying healthy fails at once.
    """
    demo = DemoServer(
        tmp_path_factory.mktemp("restaurant-server"),
        free_port(),
        extra_env={
            "PIPELINE_ORCHESTRATOR_MAX_RETRIES": "0",
            "PIPELINE_ORCHESTRATOR_WORKER_LIFECYCLE_STALE_AFTER": "PT10S",
        },
    )
    demo.start()
    try:
        flows.prepare_release(demo.client(), demo.state_dir / "build")
        yield demo
    finally:
        demo.stop()
