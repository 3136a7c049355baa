from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine.harness import Harness, make_harness


@pytest.fixture(params=["memory", "sqlite"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The engine on both embedded stores: every engine test runs on memory and SQLite."""
    if request.param == "memory":
        harness = await make_harness(tmp_path)
    else:
        harness = await make_harness(
            tmp_path,
            state_provider="sqlite",
            worker_lifecycle_provider="sqlite",
            releases_registry_provider="file",
        )
    try:
        yield harness
    finally:
        await harness.coordinator.close()
