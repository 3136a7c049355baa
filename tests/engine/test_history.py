"""The execution journal as the engine writes it (issue 12): one entry per committed change,
in the same write, with run times, takeovers, error codes, completions and operator reasons."""

from __future__ import annotations

from tests.engine.harness import ORDER, TENANT, Harness, accepted
from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tests.engine.support import settled_after, wait_until
from tpf.actors import journal
from tpf.core import codec
from tpf.core.history import HISTORY_LIMIT, HistoryEntry
from tpf.core.records import ExecutionRecord, ExecutionStatus

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
AWAIT_STEP = "ProcessAwaitRestaurantDecisionService"


def kinds(record: ExecutionRecord) -> list[str]:
    return [e.kind for e in record.history]


async def next_attempt(h: Harness, record: ExecutionRecord) -> ExecutionRecord:
    h.clock.advance(record.next_due_epoch_ms - h.clock.now_ms())
    assert await h.coordinator.work_consumer.tick() == 1
    return await wait_until(h, record.execution_id, settled_after(record.version))


async def test_a_restaurant_run_journals_park_resume_and_success(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()
    parked = await h.settle(eid)
    assert parked.current_step_id == AWAIT_STEP  # searchable while it waits
    task = await h.pending_for(eid)
    h.clock.advance(1234)
    await c.complete(
        TENANT,
        interaction_id=task.interaction_id,
        response=accepted(task.request_payload["orderId"]),
        actor="chef@example.com",
    )
    done = await h.settle(eid, DONE)
    assert kinds(done) == ["SUBMITTED", "PARKED", "RESUMED", "SUCCEEDED"]
    submitted, park, resume, success = done.history
    assert (submitted.from_status, submitted.to_status) == (None, "RUNNING")
    assert submitted.step_id is not None and submitted.step_index == 0
    assert park.interaction_id == task.interaction_id and park.step_id == AWAIT_STEP
    assert park.duration_ms == 0 and park.coordinator_id == c.engine.owner
    assert resume.completed_by == "chef@example.com"
    assert resume.idempotency_key == task.idempotency_key
    assert resume.at_epoch_ms - park.at_epoch_ms == 1234
    assert resume.step_index == task.step_index + 1
    assert success.to_status == "SUCCEEDED" and not success.took_over
    times = [e.at_epoch_ms for e in done.history]
    assert times == sorted(times)


async def test_retries_journal_their_error_and_the_next_attempt(h: Harness) -> None:
    pipeline, _calls = flaky_pipeline(2)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, FLAKY_ID, {"value": "x"})).execution_id
    record = await h.settle(eid)
    while record.status is ExecutionStatus.WAIT_RETRY:
        record = await next_attempt(h, record)
    assert kinds(record) == ["SUBMITTED", "RETRY_SCHEDULED", "RETRY_SCHEDULED", "SUCCEEDED"]
    first, second = record.history[1:3]
    assert (first.error_code, first.error_message, first.attempt) == ("RuntimeError", "boom 1", 1)
    assert (second.error_message, second.attempt) == ("boom 2", 2)
    assert first.to_status == "WAIT_RETRY" and first.from_status == "RUNNING"
    assert record.current_step_id is not None


async def test_an_await_timeout_and_a_redrive_with_its_reason(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()
    await h.settle(eid)
    task = await h.pending_for(eid)
    h.clock.advance(task.deadline_epoch_ms - h.clock.now_ms())
    assert await c.sweeper.tick() == 1
    failed = await h.settle(eid, DONE)
    assert kinds(failed)[-1] == "AWAIT_TIMED_OUT"
    timed_out = failed.history[-1]
    assert timed_out.error_code == "AWAIT_TIMEOUT" and timed_out.to_status == "FAILED"
    assert timed_out.interaction_id == task.interaction_id
    redriven = await c.redrive(TENANT, eid, reopen_await=True, reason="approver is back")
    entry = redriven.history[-1]
    assert entry.kind == "REDRIVEN" and entry.reason == "approver is back"
    assert (entry.from_status, entry.to_status) == ("FAILED", "QUEUED")
    again = await h.settle(eid)
    assert kinds(again)[-2:] == ["REDRIVEN", "PARKED"]


async def test_a_takeover_is_marked_on_the_entry_that_ends_the_transition(h: Harness) -> None:
    c = h.coordinator
    lease_ms = c.settings.execution.lease_ms
    pid, cv, rv = h.worker.identity
    now = h.clock.now_ms()
    # Submitted by a coordinator that died holding the lease: its entry left it RUNNING.
    record = ExecutionRecord(
        tenant_id=TENANT,
        execution_id="orphan-1",
        execution_key="key-orphan-1",
        pipeline_id=pid,
        contract_version=cv,
        release_version=rv,
        status=ExecutionStatus.RUNNING,
        lease_owner="coordinator-that-died",
        lease_expires_epoch_ms=now + lease_ms,
        input_payload=ORDER,
        input_digest=codec.canonical_digest([pid, "UNI", ORDER]),
        next_due_epoch_ms=now + lease_ms,
        created_at_epoch_ms=now,
        updated_at_epoch_ms=now,
        version=1,
        history=(
            HistoryEntry(
                at_epoch_ms=now,
                kind="SUBMITTED",
                from_status=None,
                to_status="RUNNING",
                step_index=0,
                coordinator_id="coordinator-that-died",
            ),
        ),
    )
    await c.stores.executions.create_or_get(record, now)
    h.clock.advance(lease_ms + 5)
    assert await c.sweeper.tick() == 1
    parked = await wait_until(h, "orphan-1", settled_after(1))
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    park = parked.history[-1]
    assert park.kind == "PARKED" and park.took_over
    assert park.coordinator_id == c.engine.owner


def test_the_journal_is_bounded_keeping_the_submit() -> None:
    record = ExecutionRecord(
        tenant_id=TENANT,
        execution_id="e",
        execution_key="k",
        pipeline_id="p",
        contract_version="c",
        release_version="r",
        status=ExecutionStatus.QUEUED,
    )
    steps = ("a", "b")
    record = journal.noted(None, record, "SUBMITTED", steps, coordinator_id="me")
    for n in range(HISTORY_LIMIT + 20):
        after = record.__class__(**{**_fields(record), "updated_at_epoch_ms": n + 1})
        record = journal.noted(record, after, "RETRY_SCHEDULED", steps, coordinator_id="me")
    assert len(record.history) == HISTORY_LIMIT
    assert record.history_dropped == 21
    assert record.history[0].kind == "SUBMITTED"
    assert record.history[-1].at_epoch_ms == HISTORY_LIMIT + 20
    assert record.current_step_id == "a"


def _fields(record: ExecutionRecord) -> dict[str, object]:
    return {f: getattr(record, f) for f in record.__struct_fields__}
