"""Leases: renewal of long transitions, a stale holder cancelled and fenced at commit."""

from __future__ import annotations

from tests.engine.harness import TENANT, Harness
from tests.engine.pipelines import BLOCKING_ID, Gate, blocking_pipeline
from tests.engine.support import barrier
from tpf.actors.commits import ExecutionCommits, Refused
from tpf.core import lifecycle
from tpf.core.records import ExecutionRecord, ExecutionStatus

OTHER_OWNER = "coordinator-elsewhere"


async def blocked(h: Harness) -> tuple[ExecutionRecord, Gate]:
    """A transition running (blocked in step code) under this coordinator's lease."""
    pipeline, gate = blocking_pipeline()
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, BLOCKING_ID, {"value": "v"})).execution_id
    await gate.entered.wait()
    record = await h.coordinator.status(TENANT, eid)
    assert record.status is ExecutionStatus.RUNNING
    assert record.lease_owner == h.coordinator.engine.owner
    assert h.coordinator.leases.held() == 1
    return record, gate


async def take_over(h: Harness, record: ExecutionRecord) -> ExecutionRecord:
    """Another coordinator claims the execution once our (unrenewed) lease expired."""
    h.clock.advance(record.lease_expires_epoch_ms - h.clock.now_ms())
    claimed = await h.coordinator.stores.executions.claim_lease(
        TENANT, record.execution_id, OTHER_OWNER, h.clock.now_ms(), 10_000
    )
    assert claimed is not None
    assert claimed.version == record.version + 1
    return claimed


async def test_a_long_transition_keeps_its_lease(h: Harness) -> None:
    c = h.coordinator
    record, gate = await blocked(h)
    lease_ms = c.settings.execution.lease_ms
    h.clock.advance(lease_ms // 2 - 1)
    assert await c.leases.tick() == 0  # not due for renewal yet
    h.clock.advance(1)
    assert await c.leases.tick() == 1
    assert c.engine.counters["lease_renewals"] == 1
    renewed = await c.status(TENANT, record.execution_id)
    assert renewed.lease_expires_epoch_ms == h.clock.now_ms() + lease_ms
    assert renewed.lease_expires_epoch_ms > record.lease_expires_epoch_ms
    assert renewed.version == record.version
    assert renewed.lease_owner == c.engine.owner
    # Renewed again and again, the transition outlives several lease lengths...
    for _ in range(4):
        h.clock.advance(lease_ms // 2)
        assert await c.leases.tick() == 1
    assert h.clock.now_ms() > record.lease_expires_epoch_ms + lease_ms
    # ...and nobody else can claim it meanwhile.
    stolen = await c.stores.executions.claim_lease(
        TENANT, record.execution_id, OTHER_OWNER, h.clock.now_ms(), lease_ms
    )
    assert stolen is None
    gate.release.set()
    done = await h.settle(record.execution_id)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert c.engine.counters["leases_lost"] == 0
    assert c.leases.held() == 0


async def test_lost_lease_cancels_the_transition(h: Harness) -> None:
    c = h.coordinator
    record, gate = await blocked(h)
    claimed = await take_over(h, record)
    assert await c.leases.tick() == 1
    assert c.engine.counters["leases_lost"] == 1
    await barrier(h, record.execution_id)
    assert gate.cancelled == 1
    assert c.leases.held() == 0
    after = await c.status(TENANT, record.execution_id)
    # The stale holder committed nothing: the record is what the new owner left.
    assert after.version == claimed.version
    assert after.status is ExecutionStatus.RUNNING
    assert after.lease_owner == OTHER_OWNER
    assert c.engine.counters["succeeded"] == 0
    assert c.engine.counters["commits_refused"] == 0  # cancelled before it could even try


async def test_lost_lease_tells_the_worker_to_cancel(h: Harness) -> None:
    """The worker is told which transition lost its lease (a remote one stops it there)."""
    c = h.coordinator
    pipeline, gate = blocking_pipeline()
    worker = await h.release(pipeline)
    told: list[tuple[str, str]] = []
    cancel = worker.cancel

    async def recording_cancel(tenant_id: str, execution_id: str) -> None:
        told.append((tenant_id, execution_id))
        await cancel(tenant_id, execution_id)

    worker.cancel = recording_cancel  # type: ignore[method-assign]
    eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "v"})).execution_id
    await gate.entered.wait()
    await take_over(h, await c.status(TENANT, eid))
    assert await c.leases.tick() == 1
    assert told == [(TENANT, eid)]
    await barrier(h, eid)
    assert gate.cancelled == 1
    assert c.leases.held() == 0


async def test_stale_holder_commit_is_fenced(h: Harness) -> None:
    """Without a lease tick the transition finishes after the takeover: its commit loses."""
    c = h.coordinator
    record, gate = await blocked(h)
    claimed = await take_over(h, record)
    gate.release.set()
    await barrier(h, record.execution_id)
    assert gate.calls == 1
    assert c.engine.counters["commits_refused"] == 1
    assert c.engine.counters["succeeded"] == 0
    after = await c.status(TENANT, record.execution_id)
    assert after.version == claimed.version
    assert after.status is ExecutionStatus.RUNNING
    assert after.lease_owner == OTHER_OWNER
    assert after.result_payload is None


async def test_commit_with_a_stale_version_is_refused(h: Harness) -> None:
    c = h.coordinator
    record, gate = await blocked(h)
    now = h.clock.now_ms()
    stale = lifecycle.mark_succeeded(record, now, None, {"value": "forged"})
    commits = ExecutionCommits(c.engine)
    refused = await commits.commit(stale, record.version - 1)
    assert isinstance(refused, Refused) and refused.expected_version == record.version - 1
    assert commits.fence(refused) is None  # the caller fences it: counted as refused
    assert c.engine.counters["commits_refused"] == 1
    assert await c.stores.executions.compare_and_set(stale, record.version + 1) is None
    assert (await c.status(TENANT, record.execution_id)).version == record.version
    # The right version wins exactly once; replaying it is refused.
    assert await c.stores.executions.compare_and_set(stale, record.version) is not None
    assert await c.stores.executions.compare_and_set(stale, record.version) is None
    # The running transition then finds its own commit refused.
    gate.release.set()
    await barrier(h, record.execution_id)
    assert c.engine.counters["commits_refused"] == 2
    final = await c.status(TENANT, record.execution_id)
    assert final.result_payload == {"value": "forged"}
    assert final.version == stale.version
