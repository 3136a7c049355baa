from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.engine.harness import Harness, make_harness
from tests.engine.support import STORE_OVERRIDES

HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture(params=["memory", "sqlite"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The engine on both embedded stores: every engine test runs on memory and SQLite."""
    harness = await make_harness(tmp_path, **STORE_OVERRIDES[request.param])
    try:
        yield harness
    finally:
        await harness.coordinator.close()


@pytest.fixture(params=["memory", "sqlite"])
async def build(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    """Like ``h`` but builds harnesses with settings overrides: ``await build(lease_ms=...)``."""
    made: list[Harness] = []

    async def factory(**overrides: Any) -> Harness:
        path = tmp_path / f"harness-{len(made)}"
        path.mkdir()
        harness = await make_harness(path, **{**STORE_OVERRIDES[request.param], **overrides})
        made.append(harness)
        return harness

    try:
        yield factory
    finally:
        for harness in made:
            await harness.coordinator.close()
