"""Submission: idempotency policies, input validation, the envelope form and execution TTL."""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import HarnessFactory
from tests.engine.harness import ORDER, PIPELINE_ID, TENANT, TERMINAL, Harness, accepted
from tests.engine.support import barrier
from tpf.core.errors import Conflict, NotFound, ValidationError
from tpf.core.records import ExecutionStatus, IdempotencyPolicy

DTO_TYPE = "org.pipelineframework.restaurantapproval.common.dto.PlaceRestaurantOrderRequestDto"


async def test_same_key_same_payload_is_a_duplicate_and_not_rerun(h: Harness) -> None:
    c = h.coordinator
    first = await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="order-1")
    assert first.duplicate is False
    parked = await h.settle(first.execution_id)
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    transitions = c.engine.counters["transitions"]
    again = await c.submit(TENANT, PIPELINE_ID, dict(ORDER), idempotency_key="order-1")
    await barrier(h, first.execution_id)
    assert again.duplicate is True
    assert again.execution_id == first.execution_id
    assert again.submitted_at_epoch_ms == first.submitted_at_epoch_ms
    assert c.engine.counters["transitions"] == transitions
    assert c.engine.counters["submitted"] == 1
    assert (await c.status(TENANT, first.execution_id)).version == parked.version
    assert len(await c.pending(TENANT)) == 1


async def test_same_key_different_payload_is_refused(h: Harness) -> None:
    c = h.coordinator
    first = await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="order-1")
    with pytest.raises(Conflict) as caught:
        await c.submit(
            TENANT, PIPELINE_ID, {**ORDER, "totalAmount": "99.00"}, idempotency_key="order-1"
        )
    assert caught.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert first.execution_id in caught.value.message
    assert c.engine.counters["submitted"] == 1


async def test_without_a_key_the_payload_is_the_key(h: Harness) -> None:
    c = h.coordinator
    first = await c.submit(TENANT, PIPELINE_ID, ORDER)
    again = await c.submit(TENANT, PIPELINE_ID, dict(reversed(list(ORDER.items()))))
    other = await c.submit(TENANT, PIPELINE_ID, {**ORDER, "requestId": "req-2"})
    assert again.duplicate is True and again.execution_id == first.execution_id
    assert other.duplicate is False and other.execution_id != first.execution_id


async def test_client_key_required_policy(build: HarnessFactory) -> None:
    h = await build(execution__idempotency_policy=IdempotencyPolicy.CLIENT_KEY_REQUIRED)
    c = h.coordinator
    with pytest.raises(ValidationError) as caught:
        await c.submit(TENANT, PIPELINE_ID, ORDER)
    assert caught.value.code == "IDEMPOTENCY_KEY_REQUIRED"
    with pytest.raises(ValidationError):
        await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="   ")
    accepted = await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key=" k-1 ")
    assert accepted.record.execution_key == "k-1"
    assert c.engine.counters["submitted"] == 1


async def test_server_key_only_ignores_the_client_key(build: HarnessFactory) -> None:
    h = await build(execution__idempotency_policy=IdempotencyPolicy.SERVER_KEY_ONLY)
    c = h.coordinator
    first = await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="a")
    same_payload = await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="b")
    assert same_payload.duplicate is True
    assert same_payload.execution_id == first.execution_id
    assert first.record.execution_key != "a"
    # Reusing the client key for another payload is no conflict: the key is not used at all.
    other = await c.submit(TENANT, PIPELINE_ID, {**ORDER, "requestId": "x"}, idempotency_key="a")
    assert other.duplicate is False
    assert other.execution_id != first.execution_id


async def test_input_that_does_not_fit_the_first_step_is_rejected(h: Harness) -> None:
    c = h.coordinator
    bad = {k: v for k, v in ORDER.items() if k != "customerName"}
    with pytest.raises(ValidationError) as caught:
        await c.submit(TENANT, PIPELINE_ID, bad)
    assert caught.value.message.startswith("inputPayload")
    assert "customerName" in caught.value.message
    with pytest.raises(ValidationError, match="inputPayload"):
        await c.submit(TENANT, PIPELINE_ID, {**ORDER, "totalAmount": 27.5})
    with pytest.raises(ValidationError, match="inputPayload"):
        await c.submit(TENANT, PIPELINE_ID, None)
    with pytest.raises(ValidationError, match="inputShape"):
        await c.submit(TENANT, PIPELINE_ID, ORDER, input_shape="STREAM")
    assert c.engine.counters["submitted"] == 0


async def test_the_originals_envelope_form_is_accepted(h: Harness) -> None:
    envelope = {
        "payloadTypeId": DTO_TYPE,
        "payloadEncoding": "application/tpf-transition+json",
        "payload": json.dumps(ORDER),
    }
    result = await h.coordinator.submit(TENANT, PIPELINE_ID, envelope, idempotency_key="env-1")
    assert result.record.input_type_id == DTO_TYPE
    assert result.record.input_payload == ORDER
    parked = await h.settle(result.execution_id)
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    # The envelope and the plain form are the same input: same key, same payload.
    plain = await h.coordinator.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="env-1")
    assert plain.duplicate is True


async def test_an_envelope_with_a_bad_payload_names_the_field(h: Harness) -> None:
    envelope = {"payloadTypeId": DTO_TYPE, "payload": "{not json"}
    with pytest.raises(ValidationError, match="inputPayload"):
        await h.coordinator.submit(TENANT, PIPELINE_ID, envelope)


async def test_expired_execution_reads_as_absent_and_frees_its_key(h: Harness) -> None:
    c = h.coordinator
    first = await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="ttl-1")
    parked = await h.pending_for((await h.settle(first.execution_id)).execution_id)
    order_id = parked.request_payload["orderId"]
    await c.complete(TENANT, interaction_id=parked.interaction_id, response=accepted(order_id))
    ended = await h.settle(first.execution_id, TERMINAL)
    assert ended.status is ExecutionStatus.SUCCEEDED  # retention counts from here
    h.clock.advance(c.settings.execution.ttl_days * 86_400_000 - 1_000)
    assert (await c.status(TENANT, first.execution_id)).execution_id == first.execution_id
    h.clock.advance(1_000)
    with pytest.raises(NotFound):
        await c.status(TENANT, first.execution_id)
    await c.heartbeat_worker(TENANT, PIPELINE_ID, "local-1")  # a week passed: keep it healthy
    again = await c.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="ttl-1")
    assert again.duplicate is False
    assert again.execution_id != first.execution_id
    assert again.record.ttl_epoch_s == 0  # live: no TTL until it ends
