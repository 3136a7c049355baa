"""Whole executions through a remote worker: a coordinator that hosts no code resolves a
registered ``rest`` worker to a RemoteWorker, whose transport (in memory here) reaches a
WorkerHost running the pipeline. Admission checks the worker's capability; a lost lease stops
the remote wait; a late result is fenced; a timed-out call is retried."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from demos.restaurant_approval import pipeline as restaurant
from tests.engine.harness import ORDER, accepted
from tests.engine.pipelines import BLOCKING_ID, FLAKY_ID, blocking_pipeline, flaky_pipeline
from tests.transports.workers.remote_support import ENDPOINT, Remote, remote_coordinator
from tpf.actors.context import EXECUTION
from tpf.core.errors import Unavailable
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.transports.workers.local import LocalTransitionWorker
from tpf.transports.workers.pool import WorkerPool
from tpf.transports.workers.remote.client import RemoteWorker
from tpf.transports.workers.remote.contracts import TransportFailure
from tpf.transports.workers.validators import ContractTypesValidator

TENANT = "restaurant-demo"
DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
PARKED = (*DONE, ExecutionStatus.WAITING_EXTERNAL, ExecutionStatus.WAIT_RETRY)
OTHER_OWNER = "coordinator-elsewhere"


def identity_of(r: Remote) -> tuple[str, str, str]:
    rel = r.release
    return (rel.pipeline_id, rel.contract_version, rel.release_version)


async def barrier(r: Remote, execution_id: str) -> None:
    """Return once the execution's actor handled every message sent to it before (it answers
    an unknown message with a TypeError, in mailbox order)."""
    with contextlib.suppress(TypeError):
        await r.coordinator.system.ask(EXECUTION, (TENANT, execution_id), object(), timeout_s=5.0)


async def test_the_restaurant_pipeline_runs_on_a_remote_worker(tmp_path: Path) -> None:
    async with remote_coordinator(tmp_path, restaurant, tenant=TENANT) as r:
        c = r.coordinator
        submitted = await c.submit(TENANT, restaurant.pipeline_id, ORDER)
        parked = await c.wait_for(TENANT, submitted.execution_id, PARKED, timeout_s=5.0)
        assert parked.status is ExecutionStatus.WAITING_EXTERNAL
        [interaction] = await c.pending(TENANT)
        order_id = interaction.request_payload["orderId"]
        await c.complete(
            TENANT, interaction_id=interaction.interaction_id, response=accepted(order_id)
        )
        final = await c.wait_for(TENANT, submitted.execution_id, DONE, timeout_s=5.0)
        pool = c.directory.get(identity_of(r))
        assert isinstance(pool, WorkerPool)  # the identity's registered workers, one client each
        [worker] = pool.members
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload["outcome"] == "APPROVED"
    assert final.result_payload["orderId"] == order_id
    assert r.transport.executes == 2  # to the await, then from it to the end
    assert r.endpoints == [ENDPOINT]  # the record's endpoint, one client for the identity
    assert isinstance(worker, RemoteWorker)
    # Submits are checked by the release contract (the coordinator has no pipeline object).
    assert isinstance(worker.validator, ContractTypesValidator)
    assert submitted.record.input_type_id == restaurant.steps[0].input_type_id
    assert r.transport.closed  # closed with the coordinator
    # The history names the registered worker that ran each transition (issue 12).
    ran = {e.kind: e.worker_id for e in final.history}
    assert ran["PARKED"] == ran["SUCCEEDED"] == "rest-worker-1"
    assert ran["SUBMITTED"] is None and ran["RESUMED"] is None  # no transition ended there


async def test_admission_checks_the_capability_through_a_short_cache(tmp_path: Path) -> None:
    pipeline, _ = flaky_pipeline(0)
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        c = r.coordinator
        for value in ("a", "b", "c"):
            await c.submit(TENANT, FLAKY_ID, {"value": value})
        assert r.transport.capability_calls == 1
        c.admission.invalidate()  # admission's own 1 s cache aside: the client's still holds
        await c.submit(TENANT, FLAKY_ID, {"value": "d"})
        assert r.transport.capability_calls == 1
        r.clock.advance(5_000)
        c.admission.invalidate()
        r.transport.fail_with = TransportFailure("unavailable", "connection refused")
        with pytest.raises(Unavailable) as refused:
            await c.submit(TENANT, FLAKY_ID, {"value": "e"})
        assert refused.value.code == "NO_WORKER"
        assert str(refused.value) == (
            "No worker available for active release: REST transition worker capability check "
            "failed: connection refused"
        )


async def test_a_worker_hosting_another_release_is_refused_at_submit(tmp_path: Path) -> None:
    pipeline, _ = flaky_pipeline(0)
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        [worker] = r.host.workers.all()
        r.host.workers.remove(worker.identity)
        r.host.workers.add(LocalTransitionWorker(pipeline, r.clock, release_version="v-next"))
        with pytest.raises(Unavailable, match=r"Worker hosts pipelineId=test\.flaky") as refused:
            await r.coordinator.submit(TENANT, FLAKY_ID, {"value": "a"})
        assert "releaseVersion=v-next but active release is" in str(refused.value)


async def test_a_timed_out_call_is_retried(tmp_path: Path) -> None:
    pipeline, calls = flaky_pipeline(0)
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        c = r.coordinator
        warm = await c.submit(TENANT, FLAKY_ID, {"value": "warm"})  # reads the capability once
        # Finished before the transport fails: its call must not race the failure.
        await c.wait_for(TENANT, warm.execution_id, DONE, timeout_s=5.0)
        r.transport.fail_with = TransportFailure("timeout", "no reply within 30 s")
        eid = (await c.submit(TENANT, FLAKY_ID, {"value": "a"})).execution_id
        waiting = await c.wait_for(TENANT, eid, PARKED, timeout_s=5.0)
        assert waiting.status is ExecutionStatus.WAIT_RETRY
        assert waiting.error_code == "TRANSITION_WORKER_TIMEOUT"
        assert waiting.attempt == 1
        r.transport.fail_with = None
        r.clock.advance(waiting.next_due_epoch_ms - r.clock.now_ms())
        await c.sweeper.tick()
        final = await c.wait_for(TENANT, eid, DONE, timeout_s=5.0)
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload == {"value": "a!"}
    assert calls.count == 2  # the warm-up and the retry: the timed-out call never ran


async def take_over(r: Remote, record: ExecutionRecord) -> ExecutionRecord:
    """Another coordinator claims the execution once our (unrenewed) lease expired."""
    r.clock.advance(record.lease_expires_epoch_ms - r.clock.now_ms())
    claimed = await r.coordinator.stores.executions.claim_lease(
        TENANT, record.execution_id, OTHER_OWNER, r.clock.now_ms(), 10_000
    )
    assert claimed is not None
    return claimed


async def test_a_lost_lease_stops_the_remote_wait(tmp_path: Path) -> None:
    pipeline, gate = blocking_pipeline()
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        c = r.coordinator
        eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "v"})).execution_id
        await gate.entered.wait()
        record = await c.status(TENANT, eid)
        assert record.lease_owner == c.engine.owner
        claimed = await take_over(r, record)
        assert await c.leases.tick() == 1
        await barrier(r, eid)
        pool = c.directory.get(identity_of(r))
        assert isinstance(pool, WorkerPool)
        [worker] = pool.members
        assert isinstance(worker, RemoteWorker)
        assert worker._running == {}  # the call is no longer waited for
        assert gate.cancelled == 1  # (in memory the cancellation reaches the step too)
        after = await c.status(TENANT, eid)
        assert after.version == claimed.version and after.lease_owner == OTHER_OWNER
        assert c.engine.counters["commits_refused"] == 0


async def test_a_late_remote_result_is_fenced(tmp_path: Path) -> None:
    pipeline, gate = blocking_pipeline()
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT) as r:
        c = r.coordinator
        eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "v"})).execution_id
        await gate.entered.wait()
        claimed = await take_over(r, await c.status(TENANT, eid))
        gate.release.set()  # the worker finishes after the takeover: its result comes late
        await barrier(r, eid)
        assert gate.calls == 1
        assert c.engine.counters["commits_refused"] == 1
        assert c.engine.counters["succeeded"] == 0
        after = await c.status(TENANT, eid)
    assert after.version == claimed.version
    assert after.status is ExecutionStatus.RUNNING and after.result_payload is None


async def test_the_configured_target_serves_records_without_endpoint_and_the_identity_it_hosts(
    tmp_path: Path,
) -> None:
    pipeline, _ = flaky_pipeline(0)
    target = {"worker_rest__base_url": "http://target.test:8181", "worker_rest__shared_secret": "s"}
    async with remote_coordinator(tmp_path, pipeline, tenant=TENANT, endpoint="", **target) as r:
        c = r.coordinator
        eid = (await c.submit(TENANT, FLAKY_ID, {"value": "a"})).execution_id
        final = await c.wait_for(TENANT, eid, DONE, timeout_s=5.0)
        assert final.status is ExecutionStatus.SUCCEEDED
        assert r.endpoints == [None]  # the configured target, opened once
    async with remote_coordinator(
        tmp_path / "no-record", pipeline, tenant=TENANT, register=False, **target
    ) as r:
        directory = r.coordinator.directory
        # No record at all: the target serves the identity its capability names, no other.
        pid, cv, _ = identity_of(r)
        assert await directory.resolve(TENANT, (pid, cv, "another-release")) is None
        worker = await directory.resolve(TENANT, identity_of(r))
        assert isinstance(worker, RemoteWorker)
        assert isinstance(worker.validator, ContractTypesValidator)
        assert await directory.resolve(TENANT, identity_of(r)) is worker
        assert r.transport.capability_calls == 1  # one cached answer for both questions
        assert r.endpoints == [None]
        # Admission still wants a lifecycle record (spec §6.3 item 3).
        with pytest.raises(Unavailable, match="No worker lifecycle record"):
            await r.coordinator.submit(TENANT, FLAKY_ID, {"value": "a"})
