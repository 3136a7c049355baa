"""Cancel in the engine (issue 12): a transition running here is stopped through its lease, one
running elsewhere is fenced by the version bump, a retrying one never runs again."""

from __future__ import annotations

import asyncio

import pytest

from tests.engine.harness import TENANT, Harness
from tests.engine.pipelines import BLOCKING_ID, FLAKY_ID, blocking_pipeline, flaky_pipeline
from tpf.core import lifecycle
from tpf.core.errors import Conflict, ValidationError
from tpf.core.records import ExecutionStatus, InteractionStatus


async def test_a_running_transition_here_is_cancelled_and_its_result_dropped(h: Harness) -> None:
    pipeline, gate = blocking_pipeline(with_await=True)
    await h.release(pipeline)
    c = h.coordinator
    eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "x"})).execution_id
    await asyncio.wait_for(gate.entered.wait(), 5)
    cancelled = await c.cancel(TENANT, eid, reason="operator test")
    assert cancelled.status is ExecutionStatus.FAILED and cancelled.error_code == "CANCELLED"
    assert gate.cancelled == 1  # the step itself was stopped, not left to run
    assert c.engine.counters["cancelled"] == 1
    assert (await c.status(TENANT, eid)).version == cancelled.version
    assert await c.stores.awaits.list_for_execution(TENANT, eid) == []
    assert cancelled.dead_letters == ()  # nothing failed: no dead letter


async def test_a_transition_running_elsewhere_is_fenced(h: Harness) -> None:
    pipeline, _gate = blocking_pipeline()
    await h.release(pipeline)
    c = h.coordinator
    eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "x"})).execution_id
    record = await c.status(TENANT, eid)
    # Another coordinator claims it once our lease lapses (as after a crash here).
    h.clock.advance(c.settings.execution.lease_ms + 1)
    theirs = await c.stores.executions.claim_lease(
        TENANT, eid, "other-coordinator", h.clock.now_ms(), c.settings.execution.lease_ms
    )
    assert theirs is not None and theirs.version > record.version
    cancelled = await c.cancel(TENANT, eid, reason="stop it")
    assert cancelled.status is ExecutionStatus.FAILED
    # Their lease renewal and their commit both expect the version they claimed: refused.
    renewed = await c.stores.executions.renew_lease(
        TENANT, eid, "other-coordinator", theirs.version, h.clock.now_ms(), 10_000
    )
    assert renewed is None
    late = lifecycle.mark_succeeded(theirs, h.clock.now_ms(), None, {"value": "x"})
    assert await c.stores.executions.compare_and_set(late, theirs.version) is None
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.FAILED


async def test_a_retrying_execution_never_runs_again(h: Harness) -> None:
    pipeline, calls = flaky_pipeline(5)
    await h.release(pipeline)
    c = h.coordinator
    eid = (await c.submit(TENANT, FLAKY_ID, {"value": "x"})).execution_id
    retrying = await h.settle(eid)
    assert retrying.status is ExecutionStatus.WAIT_RETRY
    await c.cancel(TENANT, eid, reason="give up", expected_version=retrying.version)
    h.clock.advance(retrying.next_due_epoch_ms - h.clock.now_ms())
    await c.work_consumer.tick()
    await h.idle()
    assert calls.count == 1
    assert (await c.status(TENANT, eid)).error_code == "CANCELLED"


async def test_parked_cancel_closes_the_interaction_and_refusals(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()
    parked = await h.settle(eid)
    with pytest.raises(ValidationError):
        await c.cancel(TENANT, eid, reason="  ")
    with pytest.raises(Conflict):
        await c.cancel(TENANT, eid, reason="x", expected_version=parked.version + 1)
    await c.cancel(TENANT, eid, reason="customer left")
    (interaction,) = await c.stores.awaits.list_for_execution(TENANT, eid)
    assert interaction.status is InteractionStatus.CANCELLED and interaction.applied
    with pytest.raises(Conflict) as caught:
        await c.complete(TENANT, interaction_id=interaction.interaction_id, response={"x": 1})
    assert caught.value.code == "INTERACTION_CANCELLED"
    with pytest.raises(Conflict):
        await c.cancel(TENANT, eid, reason="again")
