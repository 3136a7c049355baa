"""Burst mode: ``Coordinator.run_until_idle`` runs every pass due now, and only what is due."""

from __future__ import annotations

from tests.engine.harness import TENANT, Harness, accepted
from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tpf.core import interactions as inter
from tpf.core.records import ExecutionStatus

ITEM = {"value": "x"}


async def test_a_submitted_execution_runs_to_success(h: Harness) -> None:
    pipeline, calls = flaky_pipeline(0)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, FLAKY_ID, ITEM)).execution_id
    await h.coordinator.run_until_idle()
    done = await h.coordinator.status(TENANT, eid)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert done.result_payload == {"value": "x!"}
    assert calls.count == 1


async def test_nothing_due_is_no_work(h: Harness) -> None:
    assert await h.coordinator.run_until_idle() == 0


async def test_a_park_and_its_completion(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()
    await c.run_until_idle()
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.WAITING_EXTERNAL
    interaction = await h.pending_for(eid)
    await c.complete(
        TENANT,
        interaction_id=interaction.interaction_id,
        response=accepted(interaction.request_payload["orderId"]),
    )
    await c.run_until_idle()
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.SUCCEEDED


async def test_retries_wait_for_the_clock_and_the_last_failure_is_dead_lettered(
    h: Harness,
) -> None:
    c = h.coordinator
    pipeline, calls = flaky_pipeline(100)
    await h.release(pipeline)
    eid = (await c.submit(TENANT, FLAKY_ID, ITEM)).execution_id
    await c.run_until_idle()
    record = await c.status(TENANT, eid)
    assert record.status is ExecutionStatus.WAIT_RETRY and calls.count == 1
    # Burst mode never advances time: a retry not yet due stays where it is.
    assert await c.run_until_idle() == 0
    assert calls.count == 1
    while record.status is ExecutionStatus.WAIT_RETRY:
        h.clock.advance(record.next_due_epoch_ms - h.clock.now_ms())
        # The delivered retry (work consumer and sweeper both see it) counts as work.
        assert await c.run_until_idle() >= 1
        record = await c.status(TENANT, eid)
    assert record.status is ExecutionStatus.FAILED
    assert calls.count == c.settings.retries.max_retries + 1
    # The failure's dead letter was committed by an actor after the dead-letters pass of its
    # round had run: a later round published it, within the same call.
    (envelope,) = h.sink.envelopes
    assert envelope.execution_id == eid
    assert not (await c.status(TENANT, eid)).dead_letters  # the outbox mark is cleared


async def test_max_rounds_bounds_the_run(h: Harness) -> None:
    c = h.coordinator
    pipeline, _ = flaky_pipeline(100)
    await h.release(pipeline)
    eid = (await c.submit(TENANT, FLAKY_ID, ITEM)).execution_id
    await c.run_until_idle()
    record = await c.status(TENANT, eid)
    h.clock.advance(record.next_due_epoch_ms - h.clock.now_ms())
    # One round: the retry is delivered and runs, but the round did work, so no further round
    # looks again (the next failure's retry is in the future anyway).
    assert await c.run_until_idle(max_rounds=1) >= 1
    assert (await c.status(TENANT, eid)).attempt == record.attempt + 1


async def test_work_that_a_resent_message_causes_gets_another_round(h: Harness) -> None:
    """The awaits repair re-sends a resolution without counting it as work; the failure that
    resolution causes still has its dead letter published before the call returns."""
    c = h.coordinator
    eid = await h.submit()
    await c.run_until_idle()
    interaction = await h.pending_for(eid)
    # Timed out in the store without the execution hearing of it (a crash between the writes).
    timed_out = inter.time_out(interaction, h.clock.now_ms())
    assert await c.stores.awaits.compare_and_set(timed_out, interaction.version) is not None
    assert await c.run_until_idle() == 1  # the only counted work: one dead letter published
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.FAILED
    (envelope,) = h.sink.envelopes
    assert envelope.terminal_reason == "await_timeout"
