"""What the coordinator says: lifecycle lines with their fields, and the failing step's traceback.

Log lines are read with ``caplog``; each lifecycle record carries ``event``, ``tenant``,
``executionId``, ``step`` and ``attempt`` as LogRecord attributes (what the JSON formatter
emits), and the same ``key=value`` pairs in its message.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.engine.harness import ORDER, PIPELINE_ID, TENANT, Harness, accepted
from tests.engine.pipelines import FLAKY_ID, Item, flaky_pipeline
from tests.engine.support import settled_after, wait_until
from tpf.authoring.pipeline import Pipeline
from tpf.core import lifecycle
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.transports.dlq.log import LogDeadLetterSink

FAULTY_ID = "test.faulty"


def _explode_in_the_kitchen(item: Item) -> Item:
    raise RuntimeError(f"kitchen on fire for {item.value}")


def faulty_pipeline() -> Pipeline:
    pipeline = Pipeline(FAULTY_ID)

    @pipeline.step("Cook")
    def cook(item: Item) -> Item:
        return _explode_in_the_kitchen(item)

    return pipeline


async def next_attempt(h: Harness, record: ExecutionRecord) -> ExecutionRecord:
    """Advance to the retry's due time, deliver it, wait for the attempt's commit."""
    h.clock.advance(record.next_due_epoch_ms - h.clock.now_ms())
    assert await h.coordinator.work_consumer.tick() == 1
    return await wait_until(h, record.execution_id, settled_after(record.version))


def events(caplog: pytest.LogCaptureFixture, name: str, execution_id: str) -> list[Any]:
    return [
        r
        for r in caplog.records
        if getattr(r, "event", None) == name and getattr(r, "executionId", None) == execution_id
    ]


def one(caplog: pytest.LogCaptureFixture, name: str, execution_id: str) -> Any:
    found = events(caplog, name, execution_id)
    assert len(found) == 1, (name, [r.getMessage() for r in caplog.records])
    return found[0]


def assert_names(record: Any, execution_id: str, step: int, attempt: int | None) -> None:
    assert (record.tenant, record.executionId, record.step, record.attempt) == (
        TENANT,
        execution_id,
        step,
        attempt,
    )
    message = record.getMessage()
    assert f"tenant={TENANT} executionId={execution_id} step={step}" in message


async def test_a_parked_and_completed_execution_logs_each_event(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tpf")
    eid = await h.submit(ORDER, key="order-events")
    assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    interaction = await h.pending_for(eid)
    await h.coordinator.complete(
        TENANT,
        interaction_id=interaction.interaction_id,
        response=accepted(interaction.request_payload["orderId"]),
        actor="alice",
    )
    assert (await h.settle(eid, (ExecutionStatus.SUCCEEDED,))).status is ExecutionStatus.SUCCEEDED
    await h.coordinator.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="order-events")

    submitted = events(caplog, "submitted", eid)
    assert [r.duplicate for r in submitted] == [False, True]
    assert submitted[0].levelno == logging.DEBUG and submitted[0].pipeline == PIPELINE_ID
    assert_names(submitted[0], eid, 0, 0)
    assert "duplicate=false" in submitted[0].getMessage()

    starts = events(caplog, "step.start", eid)
    finishes = events(caplog, "step.finish", eid)
    assert [r.step for r in starts] == [0, 1, 3] == [r.step for r in finishes]
    assert {r.levelno for r in starts + finishes} == {logging.DEBUG}
    assert all(r.outcome == "ok" and r.durationMs >= 0 for r in finishes)
    assert starts[0].stepName == "Validate Order Request"
    assert "durationMs=" in finishes[0].getMessage()

    parked = one(caplog, "parked", eid)
    assert_names(parked, eid, 2, 0)
    assert parked.interactionId == interaction.interaction_id
    assert parked.deadlineEpochMs == interaction.deadline_epoch_ms
    assert f"interactionId={interaction.interaction_id}" in parked.getMessage()

    completed = one(caplog, "completed", eid)
    assert completed.levelno == logging.DEBUG and completed.actor == "alice"
    assert completed.interactionId == interaction.interaction_id
    assert "actor=alice" in completed.getMessage()
    assert_names(one(caplog, "resumed", eid), eid, 3, 0)
    assert_names(one(caplog, "succeeded", eid), eid, 3, 0)


async def test_retries_log_their_delay_and_failures_their_reason(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tpf")
    pipeline, _ = flaky_pipeline(100)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, FLAKY_ID, {"value": "x"})).execution_id
    record = await h.settle(eid)
    while record.status is ExecutionStatus.WAIT_RETRY:
        record = await next_attempt(h, record)
    assert record.status is ExecutionStatus.FAILED

    retries = events(caplog, "retry", eid)
    assert [(r.attempt, r.delayMs) for r in retries] == [(0, 1_000), (1, 2_000), (2, 4_000)]
    assert {r.levelno for r in retries} == {logging.WARNING}
    assert retries[0].errorMessage == "boom 1" and retries[0].errorCode == "RuntimeError"
    assert 'delayMs=1000 nextAttempt=1 errorCode=RuntimeError errorMessage="boom 1"' in (
        retries[0].getMessage()
    )
    failed = one(caplog, "failed", eid)
    assert failed.levelno == logging.ERROR and failed.reason == "retry_exhausted"
    assert_names(failed, eid, 0, 3)
    assert [r.outcome for r in events(caplog, "step.finish", eid)] == ["failed"] * 4


async def test_a_failing_step_keeps_its_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await h.release(faulty_pipeline())
    eid = (await h.coordinator.submit(TENANT, FAULTY_ID, {"value": "soup"})).execution_id
    retrying = await h.settle(eid)
    assert retrying.status is ExecutionStatus.WAIT_RETRY
    # The traceback is taken where the step raised: it names the raising function and line.
    assert retrying.error_detail is not None
    assert "Traceback (most recent call last)" in retrying.error_detail
    assert "in _explode_in_the_kitchen" in retrying.error_detail
    assert "RuntimeError: kitchen on fire for soup" in retrying.error_detail
    # It starts at the step's own frames: the worker, thread hop and event loop are left out.
    assert "workers/local.py" not in retrying.error_detail
    assert "anyio" not in retrying.error_detail
    record = retrying
    while record.status is ExecutionStatus.WAIT_RETRY:
        record = await next_attempt(h, record)
    assert record.status is ExecutionStatus.FAILED
    assert record.error_detail is not None and "_explode_in_the_kitchen" in record.error_detail
    # The DLQ envelope carries it, and the log sink's line shows it with the message.
    assert await h.coordinator.dead_letters.tick() == 1
    [envelope] = h.sink.envelopes
    assert envelope.error_detail == record.error_detail
    caplog.set_level(logging.ERROR, logger="tpf.dlq")
    await LogDeadLetterSink().publish(envelope)
    [line] = [r for r in caplog.records if r.name == "tpf.dlq"]
    text = line.getMessage()
    assert text.startswith(f"Execution moved to DLQ: tenant={TENANT} execution={eid} ")
    assert 'message="kitchen on fire for soup"' in text
    assert "in _explode_in_the_kitchen" in text
    assert line.errorDetail == record.error_detail and line.event == "dlq"
    assert (line.step, line.attempt) == (0, 3)


async def test_success_after_a_failure_clears_the_traceback(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(1)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, FLAKY_ID, {"value": "x"})).execution_id
    first = await h.settle(eid)
    assert first.error_detail is not None and "boom 1" in first.error_detail
    done = await next_attempt(h, first)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert (done.error_code, done.error_message, done.error_detail) == (None, None, None)


def test_a_traceback_is_bounded_to_its_end() -> None:
    detail = "frame\n" * 5_000 + "RuntimeError: the end"
    trimmed = lifecycle.trim_detail(detail)
    assert trimmed is not None and len(trimmed) == lifecycle.MAX_ERROR_DETAIL
    assert trimmed.endswith("RuntimeError: the end") and trimmed.startswith("…")
    assert lifecycle.trim_detail("short") == "short" and lifecycle.trim_detail(None) is None
