"""Retention counts from the terminal state: a parked execution is kept however long it waits,
a finished one is kept ``execution-ttl-days`` after it ended, a re-drive keeps it again, and a
completion or listing of an interaction whose execution is gone is refused or skipped."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from tests import long_approval
from tests.engine.harness import TENANT, TERMINAL, Harness
from tests.engine.support import barrier
from tpf.core import interactions as inter
from tpf.core import lifecycle
from tpf.core.errors import NotFound
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus, InteractionStatus
from tpf.stores.orphans import EXECUTION_NOT_FOUND, could_be_gone

DAY_MS = 86_400_000
APPROVE = {"approved": True}


async def parked_long(h: Harness, value: str = "v1") -> tuple[str, AwaitInteraction]:
    """An execution of the 14-day approval pipeline, parked on its await."""
    await h.release(long_approval.pipeline)
    submitted = await h.coordinator.submit(TENANT, long_approval.PIPELINE_ID, {"value": value})
    eid = submitted.execution_id
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    interaction: AwaitInteraction = await h.pending_for(eid)
    return eid, interaction


def ttl_ms(h: Harness) -> int:
    return h.coordinator.settings.execution.ttl_ms


async def test_parked_longer_than_the_ttl_still_reads_completes_and_succeeds(h: Harness) -> None:
    c = h.coordinator
    eid, interaction = await parked_long(h)
    assert (await c.status(TENANT, eid)).ttl_epoch_s == 0  # live: no TTL at all
    h.clock.advance(ttl_ms(h) + DAY_MS)  # day 8 of a 14-day approval

    record = await c.status(TENANT, eid)
    assert record.status is ExecutionStatus.WAITING_EXTERNAL
    assert await h.pending_for(eid) == interaction
    done = await c.complete(
        TENANT, interaction_id=interaction.interaction_id, response=APPROVE, actor="approver"
    )
    assert done.duplicate is False and done.interaction is not None
    assert done.interaction.status is InteractionStatus.COMPLETED
    final = await h.settle(eid, TERMINAL)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload == {"value": "done", "approved": True}
    # Retention starts now, at the end, not at the submit eight days ago.
    assert final.ttl_epoch_s == (h.clock.now_ms() + ttl_ms(h)) // 1000


async def test_a_finished_execution_expires_its_ttl_after_it_ended(h: Harness) -> None:
    c = h.coordinator
    eid, interaction = await parked_long(h)
    h.clock.advance(5 * DAY_MS)
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVE)
    ended = await h.settle(eid, TERMINAL)
    assert ended.status is ExecutionStatus.SUCCEEDED
    ended_at = h.clock.now_ms()

    # Past submit + TTL (day 7) the execution is still kept: it ended on day 5.
    h.clock.set(ended_at + ttl_ms(h) - 1_000)
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.SUCCEEDED
    h.clock.advance(1_000)
    with pytest.raises(NotFound):
        await c.status(TENANT, eid)


async def test_an_await_timeout_starts_the_retention_of_the_failed_execution(h: Harness) -> None:
    c = h.coordinator
    eid, _ = await parked_long(h)
    h.clock.advance(long_approval.TIMEOUT_MS)  # the sweeper times the await out on day 14
    assert await c.sweeper.tick() >= 1
    failed = await h.settle(eid, TERMINAL)
    assert failed.status is ExecutionStatus.FAILED and failed.error_code == "AWAIT_TIMEOUT"
    assert failed.ttl_epoch_s == (h.clock.now_ms() + ttl_ms(h)) // 1000
    h.clock.advance(ttl_ms(h) - 1_000)
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.FAILED
    h.clock.advance(1_000)
    with pytest.raises(NotFound):
        await c.status(TENANT, eid)


async def test_a_redrive_clears_the_ttl_and_the_execution_is_kept_again(h: Harness) -> None:
    c = h.coordinator
    eid, first = await parked_long(h)
    h.clock.advance(long_approval.TIMEOUT_MS)
    await c.sweeper.tick()
    failed = await h.settle(eid, TERMINAL)
    assert failed.status is ExecutionStatus.FAILED and failed.ttl_epoch_s > 0

    h.clock.advance(DAY_MS)
    redriven = await c.redrive(TENANT, eid, allow_failed=True, reason="approver was away")
    assert redriven.ttl_epoch_s == 0
    reparked = await h.settle(eid)
    assert reparked.status is ExecutionStatus.WAITING_EXTERNAL and reparked.ttl_epoch_s == 0
    second: AwaitInteraction = await h.pending_for(eid)
    assert second.interaction_id != first.interaction_id

    # Well past the TTL the failure had: still kept, still completable.
    h.clock.advance(ttl_ms(h) + DAY_MS)
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.WAITING_EXTERNAL
    await c.complete(TENANT, interaction_id=second.interaction_id, response=APPROVE)
    final = await h.settle(eid, TERMINAL)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.ttl_epoch_s == (h.clock.now_ms() + ttl_ms(h)) // 1000


async def test_a_live_record_written_with_a_submit_time_ttl_is_kept(h: Harness) -> None:
    """Records written by older versions carry ``ttl = submit + execution-ttl-days`` whatever
    their status: a live one past that TTL is still read, listed, completed and finished, and
    its retention is then counted from its end."""
    c = h.coordinator
    eid, interaction = await parked_long(h)
    parked = await c.status(TENANT, eid)
    old_ttl = (parked.created_at_epoch_ms + ttl_ms(h)) // 1000
    old = replace(parked, version=parked.version + 1, ttl_epoch_s=old_ttl)
    assert await c.stores.executions.compare_and_set(old, parked.version) == old
    h.clock.advance(ttl_ms(h) + DAY_MS)

    assert (await c.status(TENANT, eid)).ttl_epoch_s == old_ttl  # read as live, TTL ignored
    assert await h.pending_for(eid) == interaction
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVE)
    final = await h.settle(eid, TERMINAL)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.ttl_epoch_s == (h.clock.now_ms() + ttl_ms(h)) // 1000


async def test_completing_an_interaction_of_an_expired_execution_is_not_found(
    h: Harness,
) -> None:
    c = h.coordinator
    eid, interaction = await parked_long(h)
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVE)
    assert (await h.settle(eid, TERMINAL)).status is ExecutionStatus.SUCCEEDED
    h.clock.advance(ttl_ms(h))
    with pytest.raises(NotFound):
        await c.status(TENANT, eid)
    # The interaction outlived its execution: a completion is refused, not a "duplicate".
    with pytest.raises(NotFound) as refused:
        await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVE)
    assert refused.value.code == EXECUTION_NOT_FOUND
    assert eid in refused.value.message


def orphan_of(h: Harness, execution_id: str, output_type: str | None) -> AwaitInteraction:
    """A pending interaction of an execution that does not exist (as a transition whose lease
    was taken over leaves behind, once the run ended another way and its retention passed)."""
    return inter.new_interaction(
        tenant_id=TENANT,
        execution_id=execution_id,
        step_id=long_approval.STEP_ID,
        step_index=1,
        attempt=0,
        output_type=output_type,
        request_payload={"value": execution_id},
        key_fields=("value",),
        timeout_ms=long_approval.TIMEOUT_MS,
        now_ms=h.clock.now_ms(),
    )


async def test_an_orphaned_pending_interaction_is_refused_and_not_listed(h: Harness) -> None:
    c = h.coordinator
    eid, interaction = await parked_long(h)
    orphan = orphan_of(h, "gone-1", interaction.output_type)
    await c.stores.awaits.create_or_get(orphan)
    # Its execution could only have expired once the TTL passed since it parked: look then.
    h.clock.advance(ttl_ms(h))

    assert [p.execution_id for p in await c.pending(TENANT)] == [eid]
    with pytest.raises(NotFound) as refused:
        await c.complete(TENANT, correlation_id=orphan.correlation_id, response=APPROVE)
    assert refused.value.code == EXECUTION_NOT_FOUND and "gone-1" in refused.value.message
    retired = await c.stores.awaits.get(TENANT, orphan.interaction_id)
    assert retired is not None and retired.status is InteractionStatus.EXPIRED
    assert retired.applied is True  # nothing to apply: the repair sweep leaves it alone
    assert orphan.interaction_id not in {
        i.interaction_id for i in await c.stores.awaits.find_unapplied(100)
    }
    # The live execution's own interaction is unaffected.
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVE)
    await barrier(h, eid)
    assert (await h.settle(eid, TERMINAL)).status is ExecutionStatus.SUCCEEDED


async def test_an_orphan_an_older_version_wrote_is_refused_at_once(h: Harness) -> None:
    """Older versions gave interactions a TTL and their executions a submit-time one that
    DynamoDB acts on, so such an interaction's execution is looked up however young it is."""
    c = h.coordinator
    _, interaction = await parked_long(h)
    old = orphan_of(h, "gone-2", interaction.output_type)
    old = replace(old, ttl_epoch_s=old.deadline_epoch_ms // 1000 + 86_400)
    await c.stores.awaits.create_or_get(old)
    assert "gone-2" not in {p.execution_id for p in await c.pending(TENANT)}
    with pytest.raises(NotFound) as refused:
        await c.complete(TENANT, interaction_id=old.interaction_id, response=APPROVE)
    assert refused.value.code == EXECUTION_NOT_FOUND


# --------------------------------------------------------------------------- pure rules


def _record(status: ExecutionStatus, ttl_epoch_s: int = 0) -> ExecutionRecord:
    return ExecutionRecord(
        tenant_id=TENANT,
        execution_id="e1",
        execution_key="k1",
        pipeline_id="p",
        contract_version="c",
        release_version="r",
        status=status,
        updated_at_epoch_ms=1_000_000,
        ttl_epoch_s=ttl_epoch_s,
    )


def test_retain_stamps_terminal_records_and_clears_live_ones() -> None:
    week = 7 * DAY_MS
    for status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ):
        assert lifecycle.retain(_record(status), week).ttl_epoch_s == (1_000_000 + week) // 1000
    for status in (ExecutionStatus.QUEUED, ExecutionStatus.WAITING_EXTERNAL):
        assert lifecycle.retain(_record(status, ttl_epoch_s=5), week).ttl_epoch_s == 0
    # Any transition to a live status drops a TTL the record carried (a re-drive, an old record).
    old = _record(ExecutionStatus.WAIT_RETRY, ttl_epoch_s=5)
    assert lifecycle.lease(old, "me", 2_000_000, 1_000).ttl_epoch_s == 0


def test_an_interaction_is_looked_at_once_its_execution_could_have_expired() -> None:
    i = inter.new_interaction(
        tenant_id=TENANT,
        execution_id="e1",
        step_id="s",
        step_index=1,
        attempt=0,
        output_type=None,
        request_payload={},
        key_fields=(),
        timeout_ms=1_000,
        now_ms=1_000,
    )
    assert not could_be_gone(i, 1_000 + DAY_MS - 1, DAY_MS)
    assert could_be_gone(i, 1_000 + DAY_MS, DAY_MS)
    assert could_be_gone(replace(i, ttl_epoch_s=1), 1_000, DAY_MS)  # an older version wrote it
