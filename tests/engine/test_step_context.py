"""Steps that take ``ctx: StepContext`` (issue 13), on memory and SQLite.

A step after an await reads the execution's input, earlier steps' outputs (stored with the
execution, bounded) and the await's request, actor and completion time; consecutive steps of one
transition see each other's outputs; a retry and a restart give the same context (it comes from
the store); an output over ``pipeline.context.max-bytes`` fails the transition non-retryably.
"""

from __future__ import annotations

from pathlib import Path

from tests.engine.conftest import HarnessFactory
from tests.engine.context_pipelines import APPROVE, CONTEXT_ID, Item, context_pipeline
from tests.engine.harness import TENANT, Harness, accepted, make_harness
from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tests.engine.support import STORE_OVERRIDES
from tpf.actors.transition import build_command
from tpf.coordinator import Coordinator
from tpf.core.contexts import CONTEXT_TOO_LARGE
from tpf.core.records import ExecutionStatus
from tpf.stores.factory import open_stores

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


async def _parked(h: Harness, value: str = "ab") -> str:
    eid = (await h.coordinator.submit(TENANT, CONTEXT_ID, {"value": value})).execution_id
    parked = await h.settle(eid)
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL, parked.error_message
    return eid


async def _approve(c: Coordinator, eid: str) -> None:
    [pending] = [p for p in await c.pending(TENANT) if p.execution_id == eid]
    await c.complete(
        TENANT,
        interaction_id=pending.interaction_id,
        response={"approved": True, "note": "fine"},
        actor="manager-7",
    )


async def test_a_step_after_an_await_reads_its_context(h: Harness) -> None:
    pipeline, seen = context_pipeline()
    await h.release(pipeline)
    eid = await _parked(h)
    parked = await h.coordinator.status(TENANT, eid)
    # Only what a reader in a later transition needs: not the await's request twice, and
    # nothing for steps no later reader follows.
    assert parked.context_payload == {"Take": {"value": "AB"}, "Prepare": {"value": "ab->AB"}}
    # Take ran inside the first transition; kept for Finish, the operator sees its output too.
    interactions = await h.coordinator.interactions_of(parked)
    shown = await h.coordinator.outputs(parked, interactions)
    assert [(o.step_index, o.step_id) for o in shown] == [(0, "Take"), (1, "Prepare")]
    await _approve(h.coordinator, eid)
    done = await h.coordinator.wait_for(TENANT, eid, DONE, timeout_s=5)
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    assert done.result_payload == {"summary": "ab->AB:True"}
    [finish] = seen.finish
    assert finish["input"] == Item("ab")  # decoded to the pipeline's input type
    assert finish["take"] == Item("AB") and finish["prepare"] == Item("ab->AB")
    assert finish["approve"].note == "fine"  # the await's own output, by its step name
    assert finish["request"] == {"value": "ab->AB"}
    assert finish["actor"] == "manager-7"
    assert finish["await_step"] == APPROVE
    assert finish["completed_at"] == h.clock.now_ms()
    assert "'Nope'" in finish["missing"] and "'Take'" in finish["missing"]
    assert "'Prepare'" in finish["missing"]


async def test_a_retry_sees_the_same_context_from_the_store(h: Harness) -> None:
    pipeline, seen = context_pipeline()
    seen.fail_finish = 1
    await h.release(pipeline)
    eid = await _parked(h)
    await _approve(h.coordinator, eid)
    waiting = await h.settle(eid, (*DONE, ExecutionStatus.WAIT_RETRY))
    assert waiting.status is ExecutionStatus.WAIT_RETRY
    h.clock.advance(waiting.next_due_epoch_ms - h.clock.now_ms())
    assert await h.coordinator.work_consumer.tick() == 1
    done = await h.coordinator.wait_for(TENANT, eid, DONE, timeout_s=5)
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    first, second = seen.finish
    assert first == second


async def test_an_output_over_the_bound_fails_non_retryably(build: HarnessFactory) -> None:
    h = await build(execution__context_max_bytes=1_000)
    pipeline, seen = context_pipeline()
    seen.big = 2_000
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, CONTEXT_ID, {"value": "ab"})).execution_id
    failed = await h.settle(eid)
    assert failed.status is ExecutionStatus.FAILED
    assert failed.error_code == CONTEXT_TOO_LARGE
    assert failed.error_message is not None
    assert "'Take'" in failed.error_message
    assert "pipeline.context.max-bytes=1000" in failed.error_message
    assert failed.attempt == 0  # never retried
    assert failed.context_payload is None  # nothing stored, nothing truncated
    assert [e.error_code for e in failed.dead_letters] == [CONTEXT_TOO_LARGE]
    assert failed.dead_letters[0].retryable is False


async def test_a_restarted_coordinator_gives_the_same_context(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, **STORE_OVERRIDES["sqlite"])
    pipeline, seen = context_pipeline()
    await h.release(pipeline)
    eid = await _parked(h)
    settings = h.coordinator.settings
    await h.coordinator.close()  # nothing of the context is left in memory
    restarted = Coordinator(settings, await open_stores(settings), clock=h.clock)
    try:
        restarted.host(pipeline)
        await _approve(restarted, eid)
        done = await restarted.wait_for(TENANT, eid, DONE, timeout_s=5)
    finally:
        await restarted.close()
    assert done.status is ExecutionStatus.SUCCEEDED, done.error_message
    [finish] = seen.finish
    assert finish["take"] == Item("AB") and finish["request"] == {"value": "ab->AB"}


async def test_a_step_without_context_is_unchanged(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(0)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, FLAKY_ID, {"value": "v"})).execution_id
    done = await h.settle(eid)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert done.context_payload is None
    # The command sent for it carries no context (the original's envelope).
    command = await build_command(h.coordinator.engine, done, None)
    assert command.context is None
    assert pipeline.contract().steps[0].takes_context is None


async def test_the_demo_refuses_a_decision_for_another_order(h: Harness) -> None:
    eid = await h.submit()
    await h.settle(eid)
    pending = await h.pending_for(eid)
    other = "00000000-0000-4000-8000-000000000000"
    await h.coordinator.complete(
        TENANT, interaction_id=pending.interaction_id, response=accepted(other)
    )
    failed = await h.coordinator.wait_for(TENANT, eid, DONE, timeout_s=5)
    assert failed.status is ExecutionStatus.FAILED
    assert failed.attempt == 0  # non-retryable
    assert failed.error_message is not None
    assert other in failed.error_message
    assert pending.request_payload["orderId"] in failed.error_message
