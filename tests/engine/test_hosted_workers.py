"""A coordinator keeps the worker lifecycle records of the code it hosts (issue 7, defect 1).

Set up as ``tpf serve --pipeline`` is: the code is hosted and its release registered and
activated, and nobody registers or heartbeats a worker by hand. Time is a fake clock; the
heartbeat supervisor's ``tick()`` is driven by the tests.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from demos.restaurant_approval import pipeline as restaurant_pipeline
from tests.engine.harness import ORDER, PIPELINE_ID, TENANT
from tests.engine.harness import test_settings as harness_settings
from tests.engine.support import STORE_OVERRIDES
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.errors import Unavailable
from tpf.core.records import WorkerState
from tpf.engine.releases import build_release
from tpf.stores.base import StoreSet
from tpf.stores.factory import open_stores

STALE_AFTER_MS = 120_000


async def served(
    settings: Settings, clock: FakeClock, tmp: Path, stores: StoreSet | None = None
) -> Coordinator:
    """A coordinator hosting the restaurant code, with its release registered and active."""
    coordinator = Coordinator(settings, stores or await open_stores(settings), clock=clock)
    coordinator.host(restaurant_pipeline)
    descriptor = build_release(restaurant_pipeline, tmp / "build")
    release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
    await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
    return coordinator


def own_worker_id(coordinator: Coordinator) -> str:
    [worker] = coordinator.router.all()
    return f"{socket.gethostname()}:{coordinator.settings.http.port}@{worker.identity[2]}"


async def states(coordinator: Coordinator) -> dict[str, WorkerState]:
    workers = await coordinator.list_workers(TENANT, PIPELINE_ID)
    return {w.worker_id: w.state for w in workers}


async def submit(coordinator: Coordinator, n: int) -> None:
    result = await coordinator.submit(TENANT, PIPELINE_ID, {**ORDER, "requestId": f"req-{n}"})
    assert result.duplicate is False


@pytest.fixture(params=["memory", "sqlite"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    overrides = STORE_OVERRIDES[request.param]
    return harness_settings(tmp_path, workers__stale_after_ms=STALE_AFTER_MS, **overrides)


async def test_hosted_worker_keeps_admitting_after_stale_after(
    settings: Settings, tmp_path: Path
) -> None:
    clock = FakeClock()
    c = await served(settings, clock, tmp_path)
    try:
        # Registered when the release was: no ``workers register`` was needed.
        assert await states(c) == {own_worker_id(c): WorkerState.HEALTHY}
        await submit(c, 0)
        assert c.hosted.heartbeat_ms == STALE_AFTER_MS // 4
        for n in range(1, 4):  # three heartbeat periods apart: 1.5 x stale-after in all
            clock.advance(STALE_AFTER_MS // 2)
            assert await c.hosted.tick() == 1  # one heartbeat written
            assert await c.hosted.tick() == 0  # none due again at once
            await submit(c, n)
        assert await states(c) == {own_worker_id(c): WorkerState.HEALTHY}
    finally:
        await c.close()


async def test_without_heartbeats_the_record_goes_stale_and_the_refusal_says_what_to_do(
    settings: Settings, tmp_path: Path
) -> None:
    clock = FakeClock()
    c = await served(settings, clock, tmp_path)
    try:
        clock.advance(STALE_AFTER_MS + 1)  # the heartbeat loop never ran (a wedged process)
        with pytest.raises(Unavailable) as refused:
            await submit(c, 0)
        assert f"{own_worker_id(c)}=STALE" in refused.value.message
        assert "tpf serve --pipeline" in refused.value.message
        assert "tpf workers heartbeat" in refused.value.message
        assert await c.hosted.tick() == 1
        await submit(c, 1)
    finally:
        await c.close()


async def test_clean_shutdown_drains_and_a_restart_registers_the_same_worker_again(
    tmp_path: Path,
) -> None:
    settings = harness_settings(tmp_path, **STORE_OVERRIDES["sqlite"])
    clock = FakeClock()
    first = await served(settings, clock, tmp_path)
    worker_id = own_worker_id(first)
    await submit(first, 0)
    await first.close()

    stores = await open_stores(settings)
    try:
        drained = await stores.workers.get(TENANT, PIPELINE_ID, worker_id)
        assert drained is not None and drained.state is WorkerState.DRAINING
    finally:
        await stores.close()

    clock.advance(10 * STALE_AFTER_MS)  # the old record would be stale anyway
    restarted = Coordinator(settings, await open_stores(settings), clock=clock)
    try:
        restarted.host(restaurant_pipeline)
        # The file registry knows the tenants: the first pass registers before any submit.
        assert await restarted.hosted.tick() == 1
        assert await states(restarted) == {worker_id: WorkerState.HEALTHY}  # the same id
        await submit(restarted, 1)
    finally:
        await restarted.close()


async def test_a_tenant_is_announced_on_its_first_submission(tmp_path: Path) -> None:
    """Where the registry cannot list tenants (DynamoDB), admission announces the tenant."""
    settings = harness_settings(tmp_path, **STORE_OVERRIDES["sqlite"])
    clock = FakeClock()
    first = await served(settings, clock, tmp_path)
    await first.close()
    clock.advance(10 * STALE_AFTER_MS)
    restarted = Coordinator(settings, await open_stores(settings), clock=clock)
    try:
        restarted.host(restaurant_pipeline)
        assert await states(restarted) == {own_worker_id(restarted): WorkerState.DRAINING}
        await submit(restarted, 1)  # no tick ran: the admission check registered it
        assert await states(restarted) == {own_worker_id(restarted): WorkerState.HEALTHY}
    finally:
        await restarted.close()


def test_stale_after_zero_is_accepted() -> None:
    key = "pipeline.orchestrator.worker.lifecycle.stale-after"
    assert load_settings({}, overrides={key: "PT0S"}).workers.stale_after_ms == 0


async def test_stale_after_zero_disables_staleness(tmp_path: Path) -> None:
    clock = FakeClock()
    c = await served(harness_settings(tmp_path, workers__stale_after_ms=0), clock, tmp_path)
    try:
        assert c.hosted.heartbeat_ms == 0
        await c.register_worker(  # a hand-registered worker that never heartbeats
            TENANT,
            PIPELINE_ID,
            "manual-1",
            contract_version=c.router.all()[0].identity[1],
            release_version=c.router.all()[0].identity[2],
            protocol="local",
        )
        clock.advance(30 * 86_400_000)
        assert await c.hosted.tick() == 0  # nothing to keep fresh
        assert set((await states(c)).values()) == {WorkerState.HEALTHY}
        await submit(c, 0)
    finally:
        await c.close()


async def test_coordinators_sharing_a_worker_store_do_not_drain_each_other(
    tmp_path: Path,
) -> None:
    """As tests/ha runs them: one host, one shared registry, a port each."""
    settings = harness_settings(tmp_path, http__port=8181)
    clock = FakeClock()
    a = await served(settings, clock, tmp_path)
    b = Coordinator(
        replace(settings, http=replace(settings.http, port=8182)), a.stores, clock=clock
    )
    try:
        b.host(restaurant_pipeline)
        assert await b.hosted.tick() == 1
        a_id, b_id = own_worker_id(a), own_worker_id(b)
        assert a_id != b_id
        assert await states(b) == {a_id: WorkerState.HEALTHY, b_id: WorkerState.HEALTHY}
        await a.close()  # a clean shutdown of coordinator A
        assert await states(b) == {a_id: WorkerState.DRAINING, b_id: WorkerState.HEALTHY}
        for n in range(3):
            clock.advance(STALE_AFTER_MS // 2)
            assert await b.hosted.tick() == 1
            await submit(b, n)
    finally:
        await b.close()
