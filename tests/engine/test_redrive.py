"""Operator re-drive, on the restaurant demo's incident path (spec §2.2, §11.1)."""

from __future__ import annotations

import pytest

from tests.engine.harness import ORDER, TENANT, Harness, accepted
from tests.engine.support import wait_until
from tpf.core.errors import Conflict, NotFound
from tpf.core.records import ExecutionRecord, ExecutionStatus

FINALIZE_STEP = 3


async def failed_incident(h: Harness) -> ExecutionRecord:
    """Submit, then complete with a malformed orderId: Finalize fails non-retryably."""
    eid = await h.submit()
    await h.settle(eid)
    interaction = await h.pending_for(eid)
    await h.coordinator.complete(
        TENANT, interaction_id=interaction.interaction_id, response=accepted("not-a-uuid")
    )
    return await h.settle(eid, (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED))


async def test_incident_path(h: Harness) -> None:
    c = h.coordinator
    failed = await failed_incident(h)
    eid = failed.execution_id
    assert failed.status is ExecutionStatus.FAILED
    assert failed.current_step_index == FINALIZE_STEP
    assert failed.attempt == 0
    assert failed.error_code == "NonRetryableError"
    assert failed.error_message == "orderId is not a UUID: 'not-a-uuid'"
    assert await c.dead_letters.tick() == 1
    assert h.sink.envelopes[0].transition_key == f"{eid}:{FINALIZE_STEP}:0"

    with pytest.raises(Conflict, match="allowFailed=true"):
        await c.redrive(TENANT, eid, expected_version=failed.version)
    wrong = failed.version - 1
    with pytest.raises(Conflict) as caught:
        await c.redrive(TENANT, eid, expected_version=wrong, allow_failed=True)
    assert f"expected {wrong}" in caught.value.message
    assert f"current version is {failed.version}" in caught.value.message
    assert (await c.status(TENANT, eid)).version == failed.version  # refusals change nothing

    queued = await c.redrive(
        TENANT, eid, expected_version=failed.version, allow_failed=True, reason="fixed orderId"
    )
    assert queued.status is ExecutionStatus.QUEUED
    assert queued.attempt == 1
    assert queued.current_step_index == FINALIZE_STEP
    assert queued.version == failed.version + 1
    # It runs again from the stored response (same step 3) and fails the same way.
    again = await wait_until(
        h, eid, lambda r: r.version > queued.version and r.status is ExecutionStatus.FAILED
    )
    assert again.attempt == 1
    assert again.current_step_index == FINALIZE_STEP
    assert again.error_code == "NonRetryableError"
    assert again.version > queued.version
    (entry,) = again.redrives
    assert entry.reason == "fixed orderId"
    assert entry.previous_status == "FAILED"
    assert entry.from_version == failed.version
    assert entry.expected_version == failed.version
    assert c.engine.counters["redriven"] == 1
    # Only the finalize step re-ran: nothing parked again, and a second DLQ envelope.
    assert await c.pending(TENANT) == []
    assert await c.dead_letters.tick() == 1
    assert h.sink.envelopes[1].transition_key == f"{eid}:{FINALIZE_STEP}:1"
    assert h.sink.envelopes[1].retries_observed == 1


async def test_redrive_without_expected_version(h: Harness) -> None:
    failed = await failed_incident(h)
    queued = await h.coordinator.redrive(TENANT, failed.execution_id, allow_failed=True)
    assert queued.redrives[-1].reason == "operator"
    assert queued.redrives[-1].expected_version is None
    again = await wait_until(
        h,
        failed.execution_id,
        lambda r: r.version > queued.version and r.status is ExecutionStatus.FAILED,
    )
    assert again.attempt == 1


async def test_redrive_of_succeeded_or_waiting_is_refused(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()
    waiting = await h.settle(eid)
    with pytest.raises(Conflict, match="WAITING_EXTERNAL"):
        await c.redrive(TENANT, eid, allow_failed=True)
    interaction = await h.pending_for(eid)
    await c.complete(
        TENANT,
        interaction_id=interaction.interaction_id,
        response=accepted(interaction.request_payload["orderId"]),
    )
    done = await h.settle(eid, (ExecutionStatus.SUCCEEDED,))
    assert done.version > waiting.version
    with pytest.raises(Conflict, match="SUCCEEDED"):
        await c.redrive(TENANT, eid, allow_failed=True, expected_version=done.version)
    assert (await c.status(TENANT, eid)).version == done.version


async def test_redrive_of_unknown_execution(h: Harness) -> None:
    with pytest.raises(NotFound):
        await h.coordinator.redrive(TENANT, "00000000-0000-0000-0000-000000000000")
    eid = await h.submit(dict(ORDER))
    with pytest.raises(NotFound):
        await h.coordinator.redrive("another-tenant", eid, allow_failed=True)


async def test_redrive_after_an_await_timeout_parks_on_a_fresh_interaction(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()
    await h.settle(eid)
    old = await h.pending_for(eid)
    h.clock.advance(30 * 60 * 1000)
    assert await c.sweeper.tick() == 1
    failed = await h.settle(eid, (ExecutionStatus.FAILED,))
    assert failed.error_code == "AWAIT_TIMEOUT"
    assert failed.current_step_index == old.step_index
    await c.heartbeat_worker(TENANT, "org.pipelineframework.restaurantapproval", "local-1")
    queued = await c.redrive(TENANT, eid, allow_failed=True, reason="restaurant is back")
    parked = await wait_until(
        h,
        eid,
        lambda r: r.version > queued.version and r.status is ExecutionStatus.WAITING_EXTERNAL,
    )
    assert parked.attempt == 1
    fresh = await h.pending_for(eid)
    assert fresh.interaction_id != old.interaction_id
    assert fresh.request_payload == old.request_payload  # the await's input is re-used
    assert fresh.deadline_epoch_ms == h.clock.now_ms() + 30 * 60 * 1000
    await c.complete(
        TENANT,
        interaction_id=fresh.interaction_id,
        response=accepted(fresh.request_payload["orderId"]),
    )
    final = await h.settle(eid, (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED))
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload["outcome"] == "APPROVED"


async def test_redrive_keeps_an_unpublished_dead_letter(h: Harness) -> None:
    """Re-driven before its DLQ envelope was published and failing again, the execution keeps
    both envelopes in its outbox: the earlier evidence is not replaced."""
    c = h.coordinator
    failed = await failed_incident(h)
    eid = failed.execution_id
    assert len(failed.dead_letters) == 1  # not published yet
    queued = await c.redrive(TENANT, eid, allow_failed=True)
    assert [e.transition_key for e in queued.dead_letters] == [f"{eid}:{FINALIZE_STEP}:0"]
    again = await wait_until(
        h, eid, lambda r: r.version > queued.version and r.status is ExecutionStatus.FAILED
    )
    assert [e.transition_key for e in again.dead_letters] == [
        f"{eid}:{FINALIZE_STEP}:0",
        f"{eid}:{FINALIZE_STEP}:1",
    ]
    assert await c.dead_letters.tick() == 2
    assert [e.transition_key for e in h.sink.envelopes] == [
        f"{eid}:{FINALIZE_STEP}:0",
        f"{eid}:{FINALIZE_STEP}:1",
    ]
    assert not (await c.status(TENANT, eid)).dead_letters


async def test_redrive_does_not_wait_for_a_failing_dlq_sink(h: Harness) -> None:
    c = h.coordinator
    failed = await failed_incident(h)
    h.sink.fail_next = 1
    assert await c.dead_letters.tick() == 0  # the sink is down: the envelope stays
    queued = await c.redrive(TENANT, failed.execution_id, allow_failed=True)
    assert queued.status is ExecutionStatus.QUEUED
    assert len(queued.dead_letters) == 1
    assert await c.dead_letters.tick() >= 1  # the sink is back
    assert h.sink.envelopes[0].transition_key == failed.dead_letters[0].transition_key
