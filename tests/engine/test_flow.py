"""The happy paths: submit, park on the await, complete, finish with the right outcome."""

from __future__ import annotations

from tests.engine.harness import TENANT, Harness, accepted, declined
from tpf.core.records import ExecutionStatus, InteractionStatus


async def test_accepted_order_is_approved(h: Harness) -> None:
    eid = await h.submit()
    parked = await h.settle(eid)
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    assert parked.current_step_index == 2
    interaction = await h.pending_for(eid)
    assert interaction.step_id == "ProcessAwaitRestaurantDecisionService"
    assert interaction.status is InteractionStatus.DISPATCHED
    order_id = interaction.request_payload["orderId"]
    done = await h.coordinator.complete(
        TENANT, interaction_id=interaction.interaction_id, response=accepted(order_id)
    )
    assert done.duplicate is False
    final = await h.settle(eid, (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED))
    assert final.status is ExecutionStatus.SUCCEEDED
    assert final.result_payload["outcome"] == "APPROVED"
    assert final.result_payload["orderId"] == order_id
    assert await h.coordinator.pending(TENANT) == []


async def test_declined_order_is_declined(h: Harness) -> None:
    eid = await h.submit()
    await h.settle(eid)
    interaction = await h.pending_for(eid)
    await h.coordinator.complete(
        TENANT,
        correlation_id=interaction.correlation_id,
        response=declined(interaction.request_payload["orderId"]),
    )
    final = await h.settle(eid, (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED))
    assert final.result_payload["outcome"] == "DECLINED"
