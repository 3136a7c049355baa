"""The sweeper: the safety net that finds due executions the queue lost or a dead holder left."""

from __future__ import annotations

from tests.engine.harness import ORDER, PIPELINE_ID, TENANT, Harness, accepted
from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tests.engine.support import barrier, settled_after, wait_until
from tpf.core import codec
from tpf.core.records import ExecutionRecord, ExecutionStatus, WorkItem

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


async def stored_but_never_told(h: Harness, execution_id: str) -> ExecutionRecord:
    """An accepted execution whose work message was lost (a crash right after the insert)."""
    pid, cv, rv = h.worker.identity
    now = h.clock.now_ms()
    record = ExecutionRecord(
        tenant_id=TENANT,
        execution_id=execution_id,
        execution_key=f"key-{execution_id}",
        pipeline_id=pid,
        contract_version=cv,
        release_version=rv,
        status=ExecutionStatus.QUEUED,
        input_payload=ORDER,
        input_digest=codec.canonical_digest([pid, "UNI", ORDER]),
        next_due_epoch_ms=now,
        created_at_epoch_ms=now,
        updated_at_epoch_ms=now,
        ttl_epoch_s=(now + h.coordinator.settings.execution.ttl_ms) // 1000,
    )
    stored, duplicate = await h.coordinator.stores.executions.create_or_get(record, now)
    assert not duplicate
    return stored


async def complete(h: Harness, execution_id: str) -> ExecutionRecord:
    interaction = await h.pending_for(execution_id)
    await h.coordinator.complete(
        TENANT,
        interaction_id=interaction.interaction_id,
        response=accepted(interaction.request_payload["orderId"]),
    )
    return await h.settle(execution_id, DONE)


async def test_lost_work_message_is_found_and_run(h: Harness) -> None:
    c = h.coordinator
    record = await stored_but_never_told(h, "lost-1")
    assert await c.work_consumer.tick() == 0  # the queue knows nothing
    assert await c.sweeper.tick() == 1
    assert c.engine.counters["swept"] == 1
    parked = await wait_until(h, "lost-1", settled_after(record.version))
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    assert await c.sweeper.tick() == 0  # parked: no longer due
    assert (await complete(h, "lost-1")).status is ExecutionStatus.SUCCEEDED


async def test_expired_lease_of_a_dead_holder_is_taken_over(h: Harness) -> None:
    c = h.coordinator
    lease_ms = c.settings.execution.lease_ms
    await stored_but_never_told(h, "orphan-1")
    dead = await c.stores.executions.claim_lease(
        TENANT, "orphan-1", "coordinator-that-died", h.clock.now_ms(), lease_ms
    )
    assert dead is not None and dead.status is ExecutionStatus.RUNNING
    assert await c.sweeper.tick() == 0  # the lease is live: not due
    h.clock.advance(lease_ms - 1)
    assert await c.sweeper.tick() == 0
    h.clock.advance(1)
    assert await c.sweeper.tick() == 1
    parked = await wait_until(h, "orphan-1", settled_after(dead.version))
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    assert parked.version >= dead.version + 2  # re-claimed (version + 1), then parked
    final = await complete(h, "orphan-1")
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload["outcome"] == "APPROVED"


async def test_sweeper_never_returns_waiting_or_terminal_executions(h: Harness) -> None:
    c = h.coordinator
    ok, _ = flaky_pipeline(0)
    await h.release(ok)
    succeeded = (await c.submit(TENANT, FLAKY_ID, {"value": "ok"})).execution_id
    waiting = await h.submit()
    retrying_pipeline, _ = flaky_pipeline(5, pipeline_id="test.retrying")
    await h.release(retrying_pipeline)
    retrying = (await c.submit(TENANT, "test.retrying", {"value": "r"})).execution_id
    failing = (await c.submit(TENANT, PIPELINE_ID, {**ORDER, "totalAmount": "-1"})).execution_id
    assert (await h.settle(succeeded)).status is ExecutionStatus.SUCCEEDED
    assert (await h.settle(waiting)).status is ExecutionStatus.WAITING_EXTERNAL
    assert (await h.settle(failing)).status is ExecutionStatus.FAILED
    retry = await h.settle(retrying)
    assert retry.status is ExecutionStatus.WAIT_RETRY
    # Before the retry is due, nothing at all is due.
    assert await c.stores.executions.find_due(h.clock.now_ms(), 100) == []
    # Long after (but before the await deadline): only the retry is due.
    h.clock.advance(20 * 60 * 1000)
    due = await c.stores.executions.find_due(h.clock.now_ms(), 100)
    assert [r.execution_id for r in due] == [retrying]
    assert await c.sweeper.tick() == 1


async def test_duplicate_delivery_never_reruns_a_committed_transition(h: Harness) -> None:
    c = h.coordinator
    pipeline, calls = flaky_pipeline(0)
    await h.release(pipeline)
    eid = (await c.submit(TENANT, FLAKY_ID, {"value": "once"})).execution_id
    # The same work item delivered again and again (queue redelivery, a sweep racing it).
    for _ in range(3):
        await c.engine.queue.enqueue(WorkItem(tenant_id=TENANT, execution_id=eid))
    assert await c.work_consumer.tick() == 3
    done = await h.settle(eid, DONE)
    await barrier(h, eid)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert calls.count == 1
    assert (await c.status(TENANT, eid)).version == done.version
