"""Release pinning: an execution runs the code and contract it was submitted against."""

from __future__ import annotations

from tests.engine.harness import PIPELINE_ID, TENANT, Harness
from tests.engine.pipelines import PINNED_ID, versioned_pipeline
from tpf.core.records import ExecutionStatus, TransitionCommand, TransitionOutcome

DONE = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
APPROVED = {"approved": True}


async def test_executions_stay_pinned_across_activation(h: Harness) -> None:
    c = h.coordinator
    v1, v2 = versioned_pipeline("v1"), versioned_pipeline("v2")
    v1_contract, v2_contract = v1.contract().contract_version, v2.contract().contract_version
    assert v1_contract != v2_contract

    _, _, v1_version = (await h.release(v1, worker_id="worker-v1")).identity
    a = await c.submit(TENANT, PINNED_ID, {"value": "a"})
    assert (await h.settle(a.execution_id)).status is ExecutionStatus.WAITING_EXTERNAL

    _, _, v2_version = (await h.release(v2, worker_id="worker-v2")).identity
    assert v1_version != v2_version
    assert (await c.active_release(TENANT, PINNED_ID)).release_version == v2_version
    b = await c.submit(TENANT, PINNED_ID, {"value": "b"})
    assert (await h.settle(b.execution_id)).status is ExecutionStatus.WAITING_EXTERNAL
    assert (b.record.contract_version, b.record.release_version) == (v2_contract, v2_version)

    for result in (b, a):  # complete the newer one first: order does not matter
        interaction = await h.pending_for(result.execution_id)
        await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVED)
    final_a = await h.settle(a.execution_id, DONE)
    final_b = await h.settle(b.execution_id, DONE)
    assert final_a.status is final_b.status is ExecutionStatus.SUCCEEDED
    assert final_a.result_payload == {"outcome": "APPROVED", "marker": "v1"}
    assert final_b.result_payload == {"outcome": "APPROVED", "marker": "v2"}
    assert (final_a.contract_version, final_a.release_version) == (v1_contract, v1_version)
    assert (final_b.contract_version, final_b.release_version) == (v2_contract, v2_version)


async def test_pinned_execution_without_its_worker_does_not_run_other_code(h: Harness) -> None:
    c = h.coordinator
    v1 = versioned_pipeline("v1")
    v1_worker = await h.release(v1, worker_id="worker-v1")
    a = await c.submit(TENANT, PINNED_ID, {"value": "a"})
    await h.settle(a.execution_id)
    # v1's code leaves this process; only v2 is hosted now.
    c.directory.remove(v1_worker.identity)
    await h.release(versioned_pipeline("v2"), worker_id="worker-v2")
    interaction = await h.pending_for(a.execution_id)
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=APPROVED)
    retry = await h.settle(a.execution_id, (ExecutionStatus.WAIT_RETRY, *DONE))
    assert retry.status is ExecutionStatus.WAIT_RETRY
    assert retry.error_code == "NO_TRANSITION_WORKER"
    assert retry.result_payload is None


async def test_local_worker_refuses_a_command_for_another_identity(h: Harness) -> None:
    pid, cv, rv = h.worker.identity
    assert pid == PIPELINE_ID
    command = TransitionCommand(
        tenant_id=TENANT,
        execution_id="e-1",
        pipeline_id=pid,
        contract_version="sha256:" + "0" * 64,
        release_version=rv,
        current_step_index=0,
        transition_key="e-1:0:0",
        trace_id="e-1:0:0",
        payload='{"customerName": "x"}',
    )
    result = await h.worker.execute(command)
    assert result.outcome is TransitionOutcome.FAILED
    assert result.failure is not None
    assert result.failure.message == (
        f"Transition command targets pipelineId={pid}, contractVersion=sha256:{'0' * 64}, "
        f"releaseVersion={rv} but local worker is pipelineId={pid}, contractVersion={cv}, "
        f"releaseVersion={rv}"
    )
    assert result.failure.retryable is True
