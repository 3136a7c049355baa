"""A bad human answer can be refused and corrected (issue 7, defect 6), at the engine level.

Completions are validated strictly against the await's output type before anything is stored; a
different answer to a completed interaction is a conflict naming who answered and when; an
operator can re-open the last await of a FAILED execution so a corrected answer completes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from tests.engine.harness import TENANT, Harness, accepted
from tests.engine.pipelines import (
    APPROVE_STEP,
    BLOCKING_ID,
    Done,
    Item,
    blocking_pipeline,
    flaky_pipeline,
)
from tests.engine.support import barrier, settled_after, wait_until
from tpf.authoring.pipeline import Pipeline
from tpf.core import ids
from tpf.core.errors import Conflict, ValidationError
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus, InteractionStatus

AWAIT_STEP = 2
FINALIZE_STEP = 3
DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


async def parked(h: Harness) -> AwaitInteraction:
    eid = await h.submit()
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    interaction: AwaitInteraction = await h.pending_for(eid)
    return interaction


def order_id(interaction: AwaitInteraction) -> str:
    value: str = interaction.request_payload["orderId"]
    return value


async def refused(h: Harness, interaction: AwaitInteraction, response: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        await h.coordinator.complete(
            TENANT, interaction_id=interaction.interaction_id, response=response
        )
    return caught.value


@pytest.mark.parametrize(
    ("response", "field", "problem"),
    [
        (
            {"accepted": {"orderId": 5}},
            "responsePayload.accepted.orderId",
            "expected `str`, got `int`",
        ),
        ({"accepted": {"note": "hi"}}, "responsePayload.accepted.orderId", "required field"),
        ({"foo": 1}, "responsePayload.foo", "undeclared field (declared: accepted, declined)"),
        (
            {"accepted": {"orderId": "o", "orderid": "typo"}},
            "responsePayload.accepted.orderid",
            "undeclared field",
        ),
        ({}, "responsePayload", "exactly one of accepted/declined must be set"),
    ],
)
async def test_a_wrong_answer_is_refused_naming_the_field(
    h: Harness, response: dict[str, Any], field: str, problem: str
) -> None:
    interaction = await parked(h)
    error = await refused(h, interaction, response)
    assert error.message.startswith(f"{field}: "), error.message
    assert problem in error.message
    assert error.details == {"field": field}
    after = await h.coordinator.stores.awaits.get(TENANT, interaction.interaction_id)
    assert after is not None and after.status is InteractionStatus.DISPATCHED
    assert after.version == interaction.version  # nothing was stored
    # The right answer still completes it.
    await h.coordinator.complete(
        TENANT, interaction_id=interaction.interaction_id, response=accepted(order_id(interaction))
    )
    final = await h.settle(interaction.execution_id, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED


class Answer(msgspec.Struct, frozen=True):
    approved: bool


def lenient_pipeline(*, ignore_unknown_fields: bool) -> Pipeline:
    pipeline = Pipeline(f"test.lenient.{ignore_unknown_fields}")

    @pipeline.step("Prepare")
    def prepare(item: Item) -> Item:
        return item

    pipeline.await_step(
        "Ask",
        step_id="Ask",
        output=Answer,
        timeout="PT30M",
        ignore_unknown_fields=ignore_unknown_fields,
    )

    @pipeline.step("Finish")
    def finish(answer: Answer) -> Done:
        return Done(outcome="APPROVED" if answer.approved else "DECLINED", marker="lenient")

    return pipeline


@pytest.mark.parametrize("ignore_unknown_fields", [False, True])
async def test_an_await_may_opt_in_to_ignoring_undeclared_fields(
    h: Harness, ignore_unknown_fields: bool
) -> None:
    pipeline = lenient_pipeline(ignore_unknown_fields=ignore_unknown_fields)
    await h.release(pipeline)
    c = h.coordinator
    eid = (await c.submit(TENANT, pipeline.pipeline_id, {"value": "v"})).execution_id
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    interaction = await h.pending_for(eid)
    answer = {"approved": True, "comment": "sent by a system that says more"}
    if not ignore_unknown_fields:
        error = await refused(h, interaction, answer)
        assert error.message.startswith("responsePayload.comment: undeclared field")
        return
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=answer)
    final = await h.settle(eid, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload == {"outcome": "APPROVED", "marker": "lenient"}
    # Types and required fields are still checked when undeclared fields are ignored.
    eid = (await c.submit(TENANT, pipeline.pipeline_id, {"value": "w"})).execution_id
    await h.settle(eid)
    second = await h.pending_for(eid)
    error = await refused(h, second, {"approved": "yes", "comment": "x"})
    assert error.details == {"field": "responsePayload.approved"}


async def test_a_different_answer_to_a_completed_interaction_is_a_conflict(h: Harness) -> None:
    c = h.coordinator
    interaction = await parked(h)
    first = accepted(order_id(interaction))
    answered_ms = h.clock.now_ms()
    await c.complete(
        TENANT, interaction_id=interaction.interaction_id, response=first, actor="chef"
    )
    h.clock.advance(5_000)
    with pytest.raises(Conflict) as caught:
        await c.complete(
            TENANT,
            correlation_id=interaction.correlation_id,
            response=accepted("another-order"),
            actor="sous-chef",
        )
    conflict = caught.value
    assert conflict.code == "INTERACTION_ALREADY_COMPLETED"
    completed_at = datetime.fromtimestamp(answered_ms / 1000, tz=UTC)
    iso = completed_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{answered_ms % 1000:03d}Z"
    assert f"already completed by chef at {iso}" in conflict.message
    assert conflict.details is not None
    assert conflict.details["completedBy"] == "chef"
    assert conflict.details["completedAt"] == iso
    assert conflict.details["completedAtEpochMs"] == answered_ms
    # The identical answer again is still a harmless duplicate, whoever sends it.
    again = await c.complete(
        TENANT, interaction_id=interaction.interaction_id, response=first, actor="sous-chef"
    )
    assert again.duplicate is True
    final = await h.settle(interaction.execution_id, DONE)
    assert final.status is ExecutionStatus.SUCCEEDED
    stored = await c.stores.awaits.get(TENANT, interaction.interaction_id)
    assert stored is not None and stored.response_payload == first and stored.actor == "chef"
    assert c.engine.counters["completions_conflicting"] == 1


async def test_a_held_completion_that_conflicts_is_dropped_and_the_others_admitted(
    h: Harness,
) -> None:
    """Completions held before their interactions existed: one was meanwhile answered
    differently (dropped with a warning), the other is admitted in the same pass."""
    pipeline, gate = blocking_pipeline(with_await=True)
    await h.release(pipeline)
    c = h.coordinator
    first = (await c.submit(TENANT, BLOCKING_ID, {"value": "v1"})).execution_id
    second = (await c.submit(TENANT, BLOCKING_ID, {"value": "v2"})).execution_id
    await gate.entered.wait()
    for eid in (first, second):
        held = await c.awaits.complete(
            TENANT,
            interaction_id=ids.interaction_id(TENANT, eid, APPROVE_STEP, 1, 0),
            response={"approved": False},
            hold_if_missing=True,
        )
        assert held.held is True
    gate.release.set()
    for eid in (first, second):
        assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    answered = await h.pending_for(first)
    await c.complete(TENANT, interaction_id=answered.interaction_id, response={"approved": True})
    assert await c.awaits.retry_held() == 1
    assert c.awaits.held() == 0
    assert c.engine.counters["completions_dropped"] == 1
    assert c.engine.counters["completions_conflicting"] == 1
    approved = await h.settle(first, DONE)
    declined = await h.settle(second, DONE)
    assert approved.result_payload == {"outcome": "APPROVED", "marker": "blocking"}
    assert declined.result_payload == {"outcome": "DECLINED", "marker": "blocking"}


async def failed_on_a_bad_answer(h: Harness) -> tuple[ExecutionRecord, AwaitInteraction]:
    """The incident: an answer with a malformed orderId passes the shape but fails Finalize."""
    interaction = await parked(h)
    await h.coordinator.complete(
        TENANT,
        interaction_id=interaction.interaction_id,
        response=accepted("not-a-uuid"),
        actor="restaurant",
    )
    failed = await h.settle(interaction.execution_id, DONE)
    assert failed.status is ExecutionStatus.FAILED
    assert failed.current_step_index == FINALIZE_STEP
    return failed, interaction


async def test_reopen_await_parks_again_and_a_corrected_answer_completes(h: Harness) -> None:
    c = h.coordinator
    failed, old = await failed_on_a_bad_answer(h)
    eid = failed.execution_id
    # The corrected answer on the old interaction is refused: it was answered.
    with pytest.raises(Conflict, match="already completed by restaurant"):
        await c.complete(
            TENANT, interaction_id=old.interaction_id, response=accepted(order_id(old))
        )
    queued = await c.redrive(
        TENANT,
        eid,
        expected_version=failed.version,
        reason="wrong orderId from the restaurant",
        reopen_await=True,
    )
    assert queued.status is ExecutionStatus.QUEUED
    assert queued.current_step_index == AWAIT_STEP
    assert queued.attempt == failed.attempt + 1
    entry = queued.redrives[-1]
    assert entry.reopened_interaction_id == old.interaction_id
    assert entry.reason == "wrong orderId from the restaurant"
    assert entry.previous_status == "FAILED"
    waiting = await wait_until(h, eid, settled_after(queued.version))
    assert waiting.status is ExecutionStatus.WAITING_EXTERNAL
    assert waiting.current_step_index == AWAIT_STEP
    fresh = await h.pending_for(eid)
    assert fresh.interaction_id != old.interaction_id
    assert fresh.interaction_id == ids.interaction_id(
        TENANT, eid, old.step_id, AWAIT_STEP, queued.attempt
    )
    assert fresh.correlation_id != old.correlation_id
    assert fresh.request_payload == old.request_payload
    assert waiting.await_interaction_id == fresh.interaction_id
    # The old interaction keeps the wrong answer as evidence.
    kept = await c.stores.awaits.get(TENANT, old.interaction_id)
    assert kept is not None and kept.response_payload == accepted("not-a-uuid")
    await c.complete(
        TENANT,
        interaction_id=fresh.interaction_id,
        response=accepted(order_id(fresh)),
        actor="restaurant",
    )
    done = await wait_until(h, eid, settled_after(waiting.version))
    assert done.status is ExecutionStatus.SUCCEEDED
    assert done.result_payload["outcome"] == "APPROVED"
    assert done.redrives == queued.redrives  # the history stays on the record


async def test_reopen_await_after_an_await_timeout(h: Harness) -> None:
    c = h.coordinator
    old = await parked(h)
    h.clock.advance(30 * 60 * 1000)
    assert await c.sweeper.tick() == 1
    failed = await h.settle(old.execution_id, DONE)
    assert failed.error_code == "AWAIT_TIMEOUT"
    queued = await c.redrive(TENANT, failed.execution_id, reopen_await=True)
    assert queued.current_step_index == AWAIT_STEP
    waiting = await wait_until(h, failed.execution_id, settled_after(queued.version))
    assert waiting.status is ExecutionStatus.WAITING_EXTERNAL
    assert (await h.pending_for(failed.execution_id)).interaction_id != old.interaction_id


async def test_reopen_await_is_refused_clearly(h: Harness) -> None:
    c = h.coordinator
    # Not FAILED: a parked execution.
    waiting = await parked(h)
    with pytest.raises(Conflict, match="is WAITING_EXTERNAL: only a FAILED execution"):
        await c.redrive(TENANT, waiting.execution_id, reopen_await=True)
    # FAILED before any await.
    pipeline, _ = flaky_pipeline(1, non_retryable=True, pipeline_id="test.no-await")
    await h.release(pipeline)
    eid = (await c.submit(TENANT, pipeline.pipeline_id, {"value": "v"})).execution_id
    failed = await h.settle(eid, DONE)
    assert failed.status is ExecutionStatus.FAILED
    with pytest.raises(Conflict) as caught:
        await c.redrive(TENANT, eid, reopen_await=True, reason="nothing to reopen")
    assert caught.value.code == "NO_AWAIT_TO_REOPEN"
    assert "has no await to re-open" in caught.value.message
    # A stale expected version.
    bad, _ = await failed_on_a_bad_answer(h)
    with pytest.raises(Conflict, match="version mismatch"):
        await c.redrive(
            TENANT, bad.execution_id, expected_version=bad.version - 1, reopen_await=True
        )
    await barrier(h, bad.execution_id)
    for record in (failed, bad):  # refusals change nothing
        assert (await c.status(TENANT, record.execution_id)).version == record.version
