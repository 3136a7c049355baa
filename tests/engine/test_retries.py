"""Retries with backoff, exhaustion, non-retryable failures and the durable DLQ mark."""

from __future__ import annotations

from pathlib import Path

from tests.engine.harness import TENANT, Harness, make_harness
from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tests.engine.support import STORE_OVERRIDES, settled_after, wait_until
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.stores.factory import open_stores

ITEM = {"value": "x"}


async def submit(h: Harness) -> str:
    return (await h.coordinator.submit(TENANT, FLAKY_ID, ITEM)).execution_id


async def next_attempt(h: Harness, record: ExecutionRecord) -> ExecutionRecord:
    """Advance to the retry's due time, let the work consumer deliver it, wait for its commit."""
    h.clock.advance(record.next_due_epoch_ms - h.clock.now_ms())
    assert await h.coordinator.work_consumer.tick() == 1
    return await wait_until(h, record.execution_id, settled_after(record.version))


async def test_a_failure_schedules_a_retry_with_backoff(h: Harness) -> None:
    pipeline, calls = flaky_pipeline(2)
    await h.release(pipeline)
    eid = await submit(h)
    submitted_at = h.clock.now_ms()
    first = await h.settle(eid)
    assert first.status is ExecutionStatus.WAIT_RETRY
    assert first.attempt == 1
    assert first.next_due_epoch_ms == submitted_at + 1_000  # retry_delay_ms, no jitter
    assert first.error_code == "RuntimeError"
    assert first.error_message == "boom 1"
    assert calls.count == 1
    # Not due yet: the queue holds it back.
    h.clock.advance(999)
    assert await h.coordinator.work_consumer.tick() == 0
    assert calls.count == 1
    second = await next_attempt(h, first)
    assert second.status is ExecutionStatus.WAIT_RETRY
    assert second.attempt == 2
    assert second.next_due_epoch_ms == h.clock.now_ms() + 2_000  # doubled
    assert second.error_message == "boom 2"
    done = await next_attempt(h, second)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert done.result_payload == {"value": "x!"}
    assert done.attempt == 2
    assert done.error_code is None
    assert calls.count == 3
    assert h.coordinator.engine.counters["retries_scheduled"] == 2
    assert await h.coordinator.dead_letters.tick() == 0


async def test_exhausted_retries_fail_with_one_dead_letter(h: Harness) -> None:
    pipeline, calls = flaky_pipeline(100)
    await h.release(pipeline)
    eid = await submit(h)
    record = await h.settle(eid)
    while record.status is ExecutionStatus.WAIT_RETRY:
        record = await next_attempt(h, record)
    max_retries = h.coordinator.settings.retries.max_retries
    assert calls.count == max_retries + 1
    assert record.status is ExecutionStatus.FAILED
    assert record.attempt == max_retries
    assert record.error_code == "RuntimeError"
    assert record.error_message == f"boom {max_retries + 1}"
    assert record.dead_letters
    assert h.sink.envelopes == []  # published by the supervisor, not inline
    assert await h.coordinator.dead_letters.tick() == 1
    assert await h.coordinator.dead_letters.tick() == 0
    (envelope,) = h.sink.envelopes
    assert envelope.execution_id == eid
    assert envelope.terminal_reason == "retry_exhausted"
    assert envelope.retryable is True
    assert envelope.retries_observed == max_retries
    assert envelope.error_code == "RuntimeError"
    assert envelope.transition_key == f"{eid}:0:{max_retries}"
    assert envelope.correlation_id == record.execution_key
    stored = await h.coordinator.status(TENANT, eid)
    assert not stored.dead_letters  # publication cleared the mark...
    assert stored.version == record.version  # ...without a state change
    # Nothing re-runs a terminal execution.
    h.clock.advance(3_600_000)
    assert await h.coordinator.sweeper.dispatch_due() == 0
    assert await h.coordinator.work_consumer.tick() == 0
    assert calls.count == max_retries + 1


async def test_non_retryable_error_fails_at_once(h: Harness) -> None:
    pipeline, calls = flaky_pipeline(1, non_retryable=True)
    await h.release(pipeline)
    eid = await submit(h)
    record = await h.settle(eid)
    assert record.status is ExecutionStatus.FAILED
    assert record.attempt == 0
    assert record.error_code == "NonRetryableError"
    assert record.error_message == "rejected x"
    assert calls.count == 1
    assert await h.coordinator.dead_letters.tick() == 1
    (envelope,) = h.sink.envelopes
    assert envelope.terminal_reason == "non_retryable"
    assert envelope.retryable is False
    assert envelope.retries_observed == 0


async def test_a_failing_sink_keeps_the_mark_until_published(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(1, non_retryable=True)
    await h.release(pipeline)
    eid = await submit(h)
    await h.settle(eid)
    h.sink.fail_next = 1
    assert await h.coordinator.dead_letters.tick() == 0
    assert h.coordinator.engine.counters["dlq_publish_failures"] == 1
    assert h.sink.envelopes == []
    assert (await h.coordinator.status(TENANT, eid)).dead_letters
    assert await h.coordinator.dead_letters.tick() == 1
    assert [e.execution_id for e in h.sink.envelopes] == [eid]
    assert not (await h.coordinator.status(TENANT, eid)).dead_letters


async def test_dead_letter_survives_a_crash_before_publication(tmp_path: Path) -> None:
    """The terminal commit and the DLQ mark are one write: a coordinator that dies before
    publishing leaves the mark, and the next coordinator on the same store publishes it once."""
    h = await make_harness(tmp_path, **STORE_OVERRIDES["sqlite"])
    pipeline, _ = flaky_pipeline(1, non_retryable=True)
    await h.release(pipeline)
    eid = await submit(h)
    assert (await h.settle(eid)).status is ExecutionStatus.FAILED
    settings = h.coordinator.settings
    await h.coordinator.close()  # "crash": the dead-letters supervisor never ran
    assert h.sink.envelopes == []

    sink = type(h.sink)()
    restarted = Coordinator(settings, await open_stores(settings), clock=h.clock, dlq_sink=sink)
    try:
        record = await restarted.status(TENANT, eid)
        assert record.status is ExecutionStatus.FAILED and record.dead_letters
        assert await restarted.dead_letters.tick() == 1
        assert await restarted.dead_letters.tick() == 0
        assert [e.execution_id for e in sink.envelopes] == [eid]
        assert sink.envelopes[0].terminal_reason == "non_retryable"
    finally:
        await restarted.close()


async def test_retry_is_found_by_the_sweeper_when_the_queue_lost_it(h: Harness) -> None:
    pipeline, calls = flaky_pipeline(1)
    await h.release(pipeline)
    eid = await submit(h)
    first = await h.settle(eid)
    assert first.status is ExecutionStatus.WAIT_RETRY
    await h.coordinator.engine.queue.close()  # the delayed work item is lost
    h.clock.advance(1_000)
    assert await h.coordinator.work_consumer.tick() == 0
    assert await h.coordinator.sweeper.tick() == 1
    done = await wait_until(h, eid, settled_after(first.version))
    assert done.status is ExecutionStatus.SUCCEEDED
    assert calls.count == 2
