"""Sync steps in worker threads: bounded by ``tpf.worker.step-threads``, abandoned on lease loss.

A blocked step waits on a ``threading.Event`` the test opens; the test waits for the step to
start through ``asyncio.to_thread`` (the step runs in another thread, so an ``asyncio.Event``
could not be set from it).
"""

from __future__ import annotations

import asyncio
import threading

from tests.engine.conftest import HarnessFactory
from tests.engine.harness import TENANT, Harness
from tests.engine.pipelines import Item
from tests.engine.support import barrier
from tpf.authoring.pipeline import Pipeline
from tpf.core.records import ExecutionStatus

PIPELINE_ID = "test.sync-blocking"
OTHER_OWNER = "coordinator-elsewhere"


class SyncGate:
    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.returned = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.acquire, True, 10.0), "no step started"


def sync_blocking_pipeline(gate: SyncGate) -> Pipeline:
    pipeline = Pipeline(PIPELINE_ID)

    @pipeline.step("Block")
    def block(item: Item) -> Item:
        with gate.lock:
            gate.calls += 1
        gate.entered.release()
        gate.release.wait(10.0)
        gate.returned.set()
        return Item(value=item.value + "!")

    return pipeline


async def test_a_lost_lease_abandons_a_blocked_sync_step(h: Harness) -> None:
    c = h.coordinator
    gate = SyncGate()
    await h.release(sync_blocking_pipeline(gate))
    eid = (await c.submit(TENANT, PIPELINE_ID, {"value": "v"})).execution_id
    await gate.wait_entered()
    record = await c.status(TENANT, eid)
    assert record.status is ExecutionStatus.RUNNING and c.leases.held() == 1
    # Another coordinator claims it once our lease expired; the next renewal finds it lost.
    h.clock.advance(record.lease_expires_epoch_ms - h.clock.now_ms())
    claimed = await c.stores.executions.claim_lease(
        TENANT, eid, OTHER_OWNER, h.clock.now_ms(), 10_000
    )
    assert claimed is not None
    assert await c.leases.tick() == 1
    # The transition stopped waiting although the thread cannot be stopped: the step still
    # blocks, and the actor is free again.
    await barrier(h, eid)
    assert c.leases.held() == 0
    assert not gate.returned.is_set()
    # The step runs on to its end; its result is dropped, not committed.
    gate.release.set()
    assert await asyncio.to_thread(gate.returned.wait, 10.0)
    await barrier(h, eid)
    after = await c.status(TENANT, eid)
    assert after.version == claimed.version and after.lease_owner == OTHER_OWNER
    assert c.engine.counters["succeeded"] == 0 and c.engine.counters["commits_refused"] == 0


async def test_step_threads_bound_how_many_sync_steps_run_at_once(build: HarnessFactory) -> None:
    h = await build(workers__step_threads=1)
    c = h.coordinator
    gate = SyncGate()
    await h.release(sync_blocking_pipeline(gate))
    first = (await c.submit(TENANT, PIPELINE_ID, {"value": "a"})).execution_id
    second = (await c.submit(TENANT, PIPELINE_ID, {"value": "b"})).execution_id
    await gate.wait_entered()
    limiter = c.step_threads.limiter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while limiter.statistics().tasks_waiting < 1:  # the second step queues for the thread
        assert loop.time() < deadline, limiter.statistics()
        await asyncio.sleep(0.01)  # limiter statistics have no event to await
    assert gate.calls == 1 and limiter.statistics().borrowed_tokens == 1
    gate.release.set()
    await gate.wait_entered()  # the second runs once the first gave its thread back
    for eid in (first, second):
        done = await h.settle(eid)
        assert done.status is ExecutionStatus.SUCCEEDED, done
    assert gate.calls == 2
