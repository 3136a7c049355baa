"""Each of the recipe's monitoring signals moves when its event happens (issue 12, item 4).

Driven on the fake-clock harness (memory and SQLite): a scrape is rendered by the same
``/q/metrics`` code the edge serves and parsed with prometheus_client's own text parser, so a
sample that is misnamed or malformed fails here as it would in Prometheus.
"""

from __future__ import annotations

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from tests.engine.conftest import HarnessFactory
from tests.engine.harness import ORDER, PIPELINE_ID, TENANT, Harness, accepted
from tests.engine.pipelines import FLAKY_ID, blocking_pipeline, flaky_pipeline
from tpf.actors.metrics import MAX_FINGERPRINTS, OTHER, EngineMetrics
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.http.metrics import Metrics
from tpf.transports.workers.remote.client import transport_failure

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(h: Harness) -> Samples:
    text = (await Metrics(h.coordinator, {}).render()).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def test_a_transition_is_dispatched_timed_and_counted_by_outcome(h: Harness) -> None:
    before = await scrape(h)
    eid = await h.submit()
    parked = await h.settle(eid)
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    after = await scrape(h)
    dispatched = "tpf_orchestrator_transition_dispatched_total"
    assert (
        value(after, dispatched, protocol="local")
        == value(before, dispatched, protocol="local") + 1
    )
    assert (
        value(after, "tpf_orchestrator_transition_outcome_total", outcome="waiting_external") == 1
    )
    # The fake clock stands still: the one observation lands in the first (5 ms) bucket.
    bucket = "tpf_orchestrator_transition_duration_bucket"
    assert value(after, bucket, protocol="local", le="0.005") == 1
    assert value(after, bucket, protocol="local", le="60.0") == 1
    assert value(after, "tpf_orchestrator_transition_duration_count", protocol="local") == 1
    assert value(after, "tpf_orchestrator_transition_active") == 0  # none running now
    # Parked: the await gauges show it, and its deadline is the earliest pending one.
    pending = await h.pending_for(eid)
    assert value(after, "tpf_await_pending") == 1
    assert value(after, "tpf_executions", status="WAITING_EXTERNAL") == 1
    deadline = value(after, "tpf_await_pending_oldest_deadline_timestamp_seconds")
    assert deadline == pending.deadline_epoch_ms / 1000.0
    await h.coordinator.complete(
        TENANT,
        interaction_id=pending.interaction_id,
        response=accepted(pending.request_payload["orderId"]),
    )
    done = await h.settle(eid, (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED))
    final = await scrape(h)
    assert done.status is ExecutionStatus.SUCCEEDED
    assert value(final, "tpf_orchestrator_transition_outcome_total", outcome="completed") == 1
    assert value(final, "tpf_orchestrator_transition_duration_count", protocol="local") == 2
    # Nothing pending any more: the deadline gauge is left out rather than reporting 0.
    assert not labelled(final, "tpf_await_pending_oldest_deadline_timestamp_seconds")


async def test_a_running_transition_is_active(h: Harness) -> None:
    pipeline, gate = blocking_pipeline()
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, pipeline.pipeline_id, {"value": "v"})).execution_id
    await gate.entered.wait()
    assert value(await scrape(h), "tpf_orchestrator_transition_active") == 1
    gate.release.set()
    await h.settle(eid)
    assert value(await scrape(h), "tpf_orchestrator_transition_active") == 0


async def test_an_expired_lease_is_a_takeover_the_sweeper_recovers(h: Harness) -> None:
    pipeline, gate = blocking_pipeline()
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, pipeline.pipeline_id, {"value": "v"})).execution_id
    await gate.entered.wait()
    running = await h.coordinator.status(TENANT, eid)
    before = await scrape(h)
    assert await h.coordinator.sweeper.tick() == 0  # the lease is live: nothing due
    h.clock.advance(running.lease_expires_epoch_ms - h.clock.now_ms() + 2_500)
    mid = await scrape(h)
    # Due for 2.5 s and not claimed: the oldest due work's age.
    assert value(mid, "tpf_work_queue_oldest_message_age_seconds") == 2.5
    assert await h.coordinator.sweeper.tick() == 1
    after = await scrape(h)
    assert value(after, "tpf_sweeper_runs_total") == value(before, "tpf_sweeper_runs_total") + 2
    assert (
        value(after, "tpf_lease_takeovers_total") == value(before, "tpf_lease_takeovers_total") + 1
    )
    assert (
        value(after, "tpf_sweeper_recoveries_total")
        == value(before, "tpf_sweeper_recoveries_total") + 1
    )
    gate.release.set()
    await h.settle(eid)


async def test_a_retry_waits_in_the_queue_and_its_due_age_grows(h: Harness) -> None:
    pipeline, _ = flaky_pipeline(1)
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, FLAKY_ID, {"value": "x"})).execution_id
    retry = await h.settle(eid)
    assert retry.status is ExecutionStatus.WAIT_RETRY
    samples = await scrape(h)
    assert value(samples, "tpf_work_queue_depth") == 1  # the delayed retry item
    assert value(samples, "tpf_work_queue_oldest_message_age_seconds") == 0  # not due yet
    assert value(samples, "tpf_executions", status="WAIT_RETRY") == 1
    h.clock.advance(retry.next_due_epoch_ms - h.clock.now_ms() + 4_000)
    assert value(await scrape(h), "tpf_work_queue_oldest_message_age_seconds") == 4.0


async def failed_order(h: Harness) -> ExecutionRecord:
    """The incident demo: an API-valid, business-invalid decision fails the resumed step."""
    eid = await h.submit({**ORDER, "requestId": "incident"})
    await h.settle(eid)
    pending = await h.pending_for(eid)
    await h.coordinator.complete(
        TENANT, interaction_id=pending.interaction_id, response=accepted("not-a-uuid")
    )
    record = await h.settle(eid, (ExecutionStatus.FAILED, ExecutionStatus.DLQ))
    assert record.status is ExecutionStatus.FAILED
    return record


async def test_a_terminal_failure_counts_its_fingerprint_and_its_dlq_publication(
    build: HarnessFactory,
) -> None:
    h = await build(retries__max_retries=0)
    failed = await failed_order(h)
    assert failed.error_code
    step = failed.current_step_id or str(failed.current_step_index)
    fingerprint = "tpf_execution_failure_fingerprint_total"
    publish = "tpf_execution_dlq_publish_total"
    samples = await scrape(h)
    assert value(samples, fingerprint, errorCode=failed.error_code, stepId=step) == 1
    assert not labelled(samples, publish)  # committed, not yet published
    assert await h.coordinator.dead_letters.tick() == 1
    samples = await scrape(h)
    (labels,) = labelled(samples, publish)
    assert dict(labels) == {
        "provider": "log",
        "terminalReason": "non_retryable",  # the step refused the decision: no retry helps
        "errorCode": failed.error_code,
        "retryable": "false",
    }
    assert samples[(publish, labels)] == 1
    assert value(samples, "tpf_executions", status="FAILED") == 1


def test_fingerprint_labels_are_bounded() -> None:
    metrics = EngineMetrics()
    base = ExecutionRecord(
        tenant_id="t",
        execution_id="e",
        execution_key="k",
        pipeline_id="p",
        contract_version="c",
        release_version="r",
        status=ExecutionStatus.FAILED,
        current_step_id="step",
    )
    for n in range(MAX_FINGERPRINTS + 25):
        metrics.execution_failed(msgspec.structs.replace(base, error_code=f"E{n}-{'x' * 100}"))
    series = {
        tuple(s.labels.values())
        for family in metrics.registry.collect()
        if family.name == "tpf_execution_failure_fingerprint"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert len(series) == MAX_FINGERPRINTS + 1  # the first ones, and one overflow series
    assert (OTHER, OTHER) in series
    assert max(len(code) for code, _ in series) == 64


def test_transport_failures_are_counted_by_category() -> None:
    metrics = EngineMetrics()
    for category in ("timeout", "timeout", "unavailable"):
        metrics.transition_finished("rest", transport_failure("rest", category, "x"), 12)
    counts = {
        (s.labels["protocol"], s.labels["category"]): s.value
        for family in metrics.registry.collect()
        if family.name == "tpf_worker_transport_failures"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert counts == {("rest", "timeout"): 2, ("rest", "unavailable"): 1}


async def test_activation_counts_and_the_active_release_is_an_info_gauge(h: Harness) -> None:
    activations = "tpf_release_activations_total"
    samples = await scrape(h)
    assert value(samples, activations, tenant=TENANT, pipeline=PIPELINE_ID) == 1
    (info,) = labelled(samples, "tpf_release_active_info")
    first = dict(info)
    assert first["tenant"] == TENANT and first["pipeline"] == PIPELINE_ID
    active = await h.coordinator.active_release(TENANT, PIPELINE_ID)
    assert first["releaseVersion"] == active.release_version
    # Re-activating (an operator rolling back to the same one) is another activation event.
    await h.coordinator.activate_release(TENANT, PIPELINE_ID, active.release_version)
    again = await scrape(h)
    assert value(again, activations, tenant=TENANT, pipeline=PIPELINE_ID) == 2
    assert labelled(again, "tpf_release_active_info") == {info: 1.0}


async def test_worker_records_are_gauged_by_state(h: Harness) -> None:
    records = "tpf_worker_lifecycle_records"
    active = await h.coordinator.active_release(TENANT, PIPELINE_ID)
    ids = {"tenant": TENANT, "pipeline": PIPELINE_ID, "releaseVersion": active.release_version}
    # The harness's "local-1" and the record the coordinator keeps for the code it hosts.
    assert value(await scrape(h), records, **ids, state="HEALTHY") == 2
    await h.coordinator.drain_worker(TENANT, PIPELINE_ID, "local-1")
    drained = await scrape(h)
    assert value(drained, records, **ids, state="DRAINING") == 1
    assert value(drained, records, **ids, state="HEALTHY") == 1
    await h.coordinator.register_local_worker(TENANT, h.worker, "local-2")
    assert value(await scrape(h), records, **ids, state="HEALTHY") == 2
    # No heartbeats (the hosted-workers supervisor is not ticked): both live records go stale.
    h.clock.advance(h.coordinator.settings.workers.stale_after_ms + 1)
    stale = await scrape(h)
    assert value(stale, records, **ids, state="STALE") == 2
    assert value(stale, records, **ids, state="HEALTHY") == 0
    assert value(stale, records, **ids, state="DRAINING") == 1


async def test_a_transition_waiting_for_a_slot_counts_as_saturated(build: HarnessFactory) -> None:
    h = await build(workers__max_in_flight=1)
    pipeline, gate = blocking_pipeline()
    await h.release(pipeline)
    first = (await h.coordinator.submit(TENANT, pipeline.pipeline_id, {"value": "a"})).execution_id
    await gate.entered.wait()
    assert value(await scrape(h), "tpf_orchestrator_transition_saturated_total") == 0
    second = await h.coordinator.submit(TENANT, pipeline.pipeline_id, {"value": "b"})
    await h.idle()  # its actor reaches the full semaphore and waits there
    assert value(await scrape(h), "tpf_orchestrator_transition_saturated_total") == 1
    gate.release.set()
    await h.settle(first)
    await h.settle(second.execution_id)
