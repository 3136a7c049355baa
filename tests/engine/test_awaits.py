"""Await completions: first writer wins, closed interactions, timeouts, early and held
completions, the repair of unapplied resolutions, pending queries and response validation."""

from __future__ import annotations

import pytest

from tests.engine.harness import ORDER, PIPELINE_ID, TENANT, Harness, accepted
from tests.engine.pipelines import (
    APPROVE_STEP,
    BLOCKING_ID,
    assigned_pipeline,
    blocking_pipeline,
)
from tests.engine.support import barrier, settled_after, wait_until
from tpf.core import ids
from tpf.core import interactions as inter
from tpf.core.errors import NotFound, ValidationError
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus, InteractionStatus

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
AWAIT_TIMEOUT_MS = 30 * 60 * 1000
APPROVED = {"approved": True, "note": "ok"}


async def parked(h: Harness, order: dict[str, str] | None = None) -> AwaitInteraction:
    eid = await h.submit(order)
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    interaction: AwaitInteraction = await h.pending_for(eid)
    return interaction


async def stored(h: Harness, interaction: AwaitInteraction) -> AwaitInteraction:
    found = await h.coordinator.stores.awaits.get(TENANT, interaction.interaction_id)
    assert found is not None
    return found


def approve(interaction: AwaitInteraction) -> dict[str, object]:
    return accepted(interaction.request_payload["orderId"])


async def test_completion_resumes_the_execution(h: Harness) -> None:
    interaction = await parked(h)
    done = await h.coordinator.complete(
        TENANT,
        interaction_id=interaction.interaction_id,
        response=approve(interaction),
        actor="chef",
    )
    assert done.duplicate is False and done.held is False
    assert done.interaction is not None
    assert done.interaction.status is InteractionStatus.COMPLETED
    final = await h.settle(interaction.execution_id, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    after = await stored(h, interaction)
    assert after.actor == "chef"
    assert after.applied is True
    assert after.response_payload == approve(interaction)


async def test_duplicate_completion_completes_exactly_once(h: Harness) -> None:
    c = h.coordinator
    interaction = await parked(h)
    first = await c.complete(
        TENANT, interaction_id=interaction.interaction_id, response=approve(interaction)
    )
    # The same answer again (keys in another order): a harmless duplicate.
    same = dict(reversed(list(approve(interaction)["accepted"].items())))
    second = await c.complete(
        TENANT, correlation_id=interaction.correlation_id, response={"accepted": same}
    )
    assert first.duplicate is False
    assert second.duplicate is True
    assert second.interaction is not None
    assert second.interaction.response_payload == approve(interaction)  # first writer won
    final = await h.settle(interaction.execution_id, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    third = await c.complete(
        TENANT, interaction_id=interaction.interaction_id, response=approve(interaction)
    )
    await barrier(h, interaction.execution_id)
    assert third.duplicate is True
    assert c.engine.counters["succeeded"] == 1
    assert c.engine.counters["resumed"] == 1
    again = await c.status(TENANT, interaction.execution_id)
    assert again.version == final.version
    assert again.result_payload == final.result_payload


async def test_unknown_interaction_is_not_found(h: Harness) -> None:
    with pytest.raises(NotFound):
        await h.coordinator.complete(TENANT, interaction_id="nope", response=APPROVED)
    with pytest.raises(ValidationError, match="interactionId"):
        await h.coordinator.complete(TENANT, response=APPROVED)


async def test_sweeper_times_out_an_overdue_await(h: Harness) -> None:
    c = h.coordinator
    interaction = await parked(h)
    h.clock.advance(AWAIT_TIMEOUT_MS - 1)
    assert await c.sweeper.tick() == 0
    h.clock.advance(1)
    assert await c.sweeper.tick() == 1
    failed = await h.settle(interaction.execution_id, DONE)
    assert failed.status is ExecutionStatus.FAILED
    assert failed.error_code == "AWAIT_TIMEOUT"
    assert failed.error_message == f"Await interaction timed out: {interaction.interaction_id}"
    assert (await stored(h, interaction)).status is InteractionStatus.TIMED_OUT
    assert await c.dead_letters.tick() == 1
    (envelope,) = h.sink.envelopes
    assert envelope.error_code == "AWAIT_TIMEOUT"
    assert envelope.terminal_reason == "await_timeout"
    assert await c.pending(TENANT) == []
    # A completion of a timed-out interaction is refused.
    with pytest.raises(ValidationError) as caught:
        await c.complete(
            TENANT, interaction_id=interaction.interaction_id, response=approve(interaction)
        )
    assert caught.value.code == "INTERACTION_CLOSED"
    assert (await c.status(TENANT, interaction.execution_id)).version == failed.version


async def test_late_completion_times_out_instead_of_parking_forever(h: Harness) -> None:
    c = h.coordinator
    interaction = await parked(h)
    h.clock.advance(AWAIT_TIMEOUT_MS + 5)  # past the deadline, before any sweep
    with pytest.raises(ValidationError) as caught:
        await c.complete(
            TENANT, interaction_id=interaction.interaction_id, response=approve(interaction)
        )
    assert caught.value.code == "INTERACTION_CLOSED"
    failed = await h.settle(interaction.execution_id, DONE)
    assert failed.status is ExecutionStatus.FAILED
    assert failed.error_code == "AWAIT_TIMEOUT"
    assert (await stored(h, interaction)).status is InteractionStatus.TIMED_OUT
    assert await c.sweeper.tick() == 0  # nothing left for the sweeper


async def test_response_must_fit_the_await_output_type(h: Harness) -> None:
    interaction = await parked(h)
    with pytest.raises(ValidationError) as caught:
        await h.coordinator.complete(
            TENANT, interaction_id=interaction.interaction_id, response={"accepted": {"orderId": 5}}
        )
    assert caught.value.message.startswith("responsePayload")
    with pytest.raises(ValidationError, match="responsePayload"):
        await h.coordinator.complete(
            TENANT, interaction_id=interaction.interaction_id, response=None
        )
    after = await stored(h, interaction)
    assert after.status is InteractionStatus.DISPATCHED  # still open
    assert after.version == interaction.version


async def test_completion_racing_ahead_of_the_park(h: Harness) -> None:
    """The completion is admitted while the transition that will park is still running."""
    pipeline, gate = blocking_pipeline(with_await=True)
    await h.release(pipeline)
    c = h.coordinator
    eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "v1"})).execution_id
    await gate.entered.wait()
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.RUNNING
    step = pipeline.steps[1]
    # The interaction the worker will derive (ids are deterministic), stored ahead of it.
    early = inter.new_interaction(
        tenant_id=TENANT,
        execution_id=eid,
        step_id=step.step_id,
        step_index=1,
        attempt=0,
        output_type=step.output_type_id,
        request_payload={"value": "v1"},
        key_fields=step.key_fields,
        timeout_ms=step.timeout_ms or 0,
        now_ms=h.clock.now_ms(),
    )
    _, created = await c.stores.awaits.create_or_get(early)
    assert created
    done = await c.complete(TENANT, interaction_id=early.interaction_id, response=APPROVED)
    assert done.duplicate is False
    assert (await c.status(TENANT, eid)).status is ExecutionStatus.RUNNING
    gate.release.set()
    final = await h.settle(eid, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload == {"outcome": "APPROVED", "marker": "blocking"}
    await barrier(h, eid)  # the queued Resolve ran too
    assert (await stored(h, early)).applied is True
    assert gate.calls == 1


async def test_unapplied_completion_is_repaired_by_the_awaits_tick(h: Harness) -> None:
    """A completion stored without its execution hearing of it (a crash between the writes)."""
    c = h.coordinator
    interaction = await parked(h)
    current = await stored(h, interaction)
    written = await c.stores.awaits.compare_and_set(
        inter.complete(current, h.clock.now_ms(), approve(interaction), "chef"), current.version
    )
    assert written is not None
    await barrier(h, interaction.execution_id)
    assert (await c.status(TENANT, interaction.execution_id)).status is (
        ExecutionStatus.WAITING_EXTERNAL
    )
    await c.run_until_idle()  # the awaits pass repairs it; the execution runs to its end
    final = await c.status(TENANT, interaction.execution_id)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert (await stored(h, interaction)).applied is True
    await c.awaits.tick()  # nothing left to repair
    await barrier(h, interaction.execution_id)
    assert (await c.status(TENANT, interaction.execution_id)).version == final.version


async def test_unapplied_timeout_is_repaired_too(h: Harness) -> None:
    c = h.coordinator
    interaction = await parked(h)
    current = await stored(h, interaction)
    timed_out = inter.time_out(current, h.clock.now_ms())
    assert await c.stores.awaits.compare_and_set(timed_out, current.version) is not None
    await c.run_until_idle()
    failed = await c.status(TENANT, interaction.execution_id)
    assert failed.status is ExecutionStatus.FAILED
    assert failed.error_code == "AWAIT_TIMEOUT"


async def test_held_completion_is_admitted_once_the_interaction_exists(h: Harness) -> None:
    pipeline, gate = blocking_pipeline(with_await=True)
    await h.release(pipeline)
    c = h.coordinator
    eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "v1"})).execution_id
    await gate.entered.wait()
    interaction_id = ids.interaction_id(TENANT, eid, APPROVE_STEP, 1, 0)
    held = await c.awaits.complete(
        TENANT, interaction_id=interaction_id, response=APPROVED, hold_if_missing=True
    )
    assert held.held is True and held.interaction is None
    assert c.awaits.held() == 1
    assert await c.awaits.tick() == 0  # still missing: kept
    assert c.awaits.held() == 1
    gate.release.set()
    waiting = await h.settle(eid)
    assert waiting.status is ExecutionStatus.WAITING_EXTERNAL
    assert await c.awaits.tick() == 1
    assert c.awaits.held() == 0
    final = await wait_until(h, eid, settled_after(waiting.version))
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload == {"outcome": "APPROVED", "marker": "blocking"}


async def test_held_completion_is_dropped_after_the_hold_window(h: Harness) -> None:
    c = h.coordinator
    held = await c.awaits.complete(
        TENANT, correlation_id="never-appears", response=APPROVED, hold_if_missing=True
    )
    assert held.held is True
    h.clock.advance(59_999)
    await c.awaits.tick()
    assert c.awaits.held() == 1
    h.clock.advance(1)
    await c.awaits.tick()
    assert c.awaits.held() == 0
    assert c.engine.counters["completions_dropped"] == 1


async def test_pending_queries(h: Harness) -> None:
    kitchen = assigned_pipeline("test.kitchen", "KitchenApproval", "alice", "kitchen")
    bar = assigned_pipeline("test.bar", "BarApproval", "bob", "bar")
    await h.release(kitchen)
    await h.release(bar)
    await h.release(kitchen, tenant="other-tenant")
    c = h.coordinator

    async def submit(tenant: str, pipeline_id: str, value: str) -> str:
        eid = (await c.submit(tenant, pipeline_id, {"value": value})).execution_id
        record: ExecutionRecord = await c.wait_for(
            tenant, eid, (ExecutionStatus.WAITING_EXTERNAL,), timeout_s=5.0
        )
        assert record.status is ExecutionStatus.WAITING_EXTERNAL
        h.clock.advance(1_000)  # later submissions have later deadlines
        return eid

    k2 = await submit(TENANT, "test.kitchen", "k2")
    b1 = await submit(TENANT, "test.bar", "b1")
    k1 = await submit(TENANT, "test.kitchen", "k1")
    other = await submit("other-tenant", "test.kitchen", "o1")
    restaurant = (await c.submit(TENANT, PIPELINE_ID, ORDER)).execution_id
    await h.settle(restaurant)

    async def pending(
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[str]:
        found = await c.pending(
            TENANT, assignee=assignee, group=group, step_id=step_id, limit=limit
        )
        return [i.execution_id for i in found]

    assert await pending() == [k2, b1, k1, restaurant]  # by deadline
    assert await pending(assignee="alice") == [k2, k1]
    assert await pending(group="bar") == [b1]
    assert await pending(step_id="KitchenApproval") == [k2, k1]
    assert await pending(step_id="BarApproval", assignee="bob", group="bar") == [b1]
    assert await pending(assignee="alice", group="bar") == []
    assert await pending(limit=2) == [k2, b1]
    assert [i.execution_id for i in await c.pending("other-tenant")] == [other]
    first = (await c.pending(TENANT, limit=1))[0]
    assert (first.assignee, first.group, first.step_id) == ("alice", "kitchen", "KitchenApproval")
    # A completed interaction leaves the queries.
    await c.complete(TENANT, interaction_id=first.interaction_id, response=APPROVED)
    await h.settle(k2, DONE)
    assert await pending(assignee="alice") == [k1]
