"""The restaurant demo's steps, run by hand through the authoring API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from demos.restaurant_approval import pipeline
from demos.restaurant_approval.pipeline import AWAIT_STEP_ID, PIPELINE_ID, VALIDATE_STEP
from tpf import StepContext
from tpf.core.codec import decode_payload, encode_payload
from tpf.core.errors import NonRetryableError, ValidationError

ORDER = {
    "requestId": "req-1",
    "customerName": "Ada Lovelace",
    "restaurantName": "Cafe TPF",
    "items": "Margherita Pizza, Sparkling Water",
    "totalAmount": "27.50",
    "currency": "EUR",
}


async def run_to_await(order: dict[str, Any]) -> dict[str, Any]:
    """Steps 0 and 1, as the worker does: plain JSON in, plain JSON out of each step."""
    value: Any = order
    for index in (0, 1):
        value = pipeline.to_plain(
            await pipeline.run_step(index, pipeline.decode_input(index, value))
        )
    assert isinstance(value, dict)
    return value


async def context_for(order: dict[str, Any]) -> StepContext:
    """Finalize's context as the worker gives it: the input and the validated order."""
    validated = await pipeline.run_step(0, pipeline.decode_input(0, order))
    return StepContext(pipeline, 3, order, {VALIDATE_STEP: pipeline.to_plain(validated)})


async def finalize(decision: Any, order: dict[str, Any] = ORDER) -> dict[str, Any]:
    # The completion arrives as the original's nested java.util.Map envelope.
    wire = encode_payload(decision, "java.util.Map")
    _, plain = decode_payload(pipeline.to_plain(wire), field="responsePayload")
    result = await pipeline.run_step(
        3, pipeline.decode_input(3, plain), context=await context_for(order)
    )
    out: dict[str, Any] = pipeline.to_plain(result)
    return out


def test_shape_matches_the_original() -> None:
    assert pipeline.pipeline_id == PIPELINE_ID == "org.pipelineframework.restaurantapproval"
    names = [s.name for s in pipeline.steps]
    assert names == [
        "Validate Order Request",
        "Create Pending Approval",
        "Await Restaurant Decision",
        "Finalize Restaurant Decision",
    ]
    wait = pipeline.steps[2]
    assert (wait.kind, wait.step_id, wait.timeout_ms, wait.key_fields) == (
        "await",
        AWAIT_STEP_ID,
        1_800_000,
        ("orderId",),
    )
    assert pipeline.steps[0].input_type_id == (
        "org.pipelineframework.restaurantapproval.common.dto.PlaceRestaurantOrderRequestDto"
    )
    assert wait.output_type_id.endswith("common.domain.RestaurantDecision")
    assert pipeline.steps[3].output_type_id.endswith("common.domain.TerminalOrderState")
    pipeline.validate()


async def test_accepted_order_is_approved() -> None:
    pending = await run_to_await(ORDER)
    order_id = pending["orderId"]
    uuid.UUID(order_id)
    assert pending["customerName"] == "Ada Lovelace" and pending["totalAmount"] == "27.50"
    assert pending["currency"] == "EUR"
    result = await finalize(
        {"accepted": {"orderId": order_id, "decidedAt": "2025-10-09T10:00:00Z", "note": "ok"}}
    )
    assert result["outcome"] == "APPROVED"
    assert result["orderId"] == order_id
    assert result["resolvedAt"] == "2025-10-09T10:00:00Z"
    assert result["restaurantStatus"] == "ACCEPTED"
    assert order_id in result["summary"]


async def test_declined_order_is_declined() -> None:
    order = dict(ORDER, requestId="req-2", customerName="Grace Hopper")
    pending = await run_to_await(order)
    result = await finalize(
        {"declined": {"orderId": pending["orderId"], "declineReason": "kitchen closed"}}, order
    )
    assert result["outcome"] == "DECLINED"
    assert result["resolvedAt"] == ""
    assert "kitchen closed" in result["summary"]


async def test_order_id_is_deterministic_per_request() -> None:
    first = await run_to_await(ORDER)
    assert (await run_to_await(ORDER))["orderId"] == first["orderId"]
    other = await run_to_await(dict(ORDER, requestId="req-other"))
    assert other["orderId"] != first["orderId"]
    no_id = {k: v for k, v in ORDER.items() if k != "requestId"}
    assert (await run_to_await(no_id))["orderId"] == (await run_to_await(no_id))["orderId"]


async def test_non_uuid_order_id_fails_the_business_rule() -> None:
    decision = pipeline.decode_input(3, {"accepted": {"orderId": "not-a-uuid"}})  # shape is fine
    with pytest.raises(NonRetryableError, match="orderId is not a UUID: 'not-a-uuid'"):
        await pipeline.run_step(3, decision, context=await context_for(ORDER))


async def test_a_decision_for_another_order_is_refused() -> None:
    other = await run_to_await(dict(ORDER, requestId="req-other"))
    with pytest.raises(NonRetryableError, match="but this execution validated order"):
        await finalize({"accepted": {"orderId": other["orderId"]}})


@pytest.mark.parametrize(
    "decision",
    [
        {},
        {"foo": 1},
        {"accepted": {"orderId": str(uuid.uuid4())}, "declined": {"orderId": str(uuid.uuid4())}},
    ],
)
def test_exactly_one_decision_is_required(decision: dict[str, Any]) -> None:
    # The decision type itself refuses it, so the await's answer is refused at completion.
    with pytest.raises(ValidationError, match="exactly one of accepted/declined"):
        pipeline.decode_input(3, decision)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customerName": "  "}, "customerName must not be blank"),
        ({"restaurantName": ""}, "restaurantName must not be blank"),
        ({"items": " "}, "items must not be blank"),
        ({"totalAmount": "0"}, "totalAmount must be positive"),
        ({"totalAmount": "-3"}, "totalAmount must be positive"),
        ({"totalAmount": "NaN"}, "totalAmount must be positive"),
        ({"totalAmount": "abc"}, "totalAmount is not a number"),
        ({"currency": "EURO"}, "currency must be a 3-letter ISO code"),
        ({"currency": "E1R"}, "currency must be a 3-letter ISO code"),
    ],
)
async def test_invalid_orders_fail_without_retry(change: dict[str, str], message: str) -> None:
    order = pipeline.decode_input(0, dict(ORDER, **change))
    with pytest.raises(NonRetryableError, match=message):
        await pipeline.run_step(0, order)


def test_wrong_shapes_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match=r"\$\.totalAmount"):
        pipeline.decode_input(0, dict(ORDER, totalAmount=27.5))
    with pytest.raises(ValidationError, match=r"\$\.accepted\.orderId"):
        pipeline.decode_input(3, {"accepted": {"orderId": 5}})


def test_decision_encodes_as_the_original_union() -> None:
    decision = pipeline.decode_input(3, {"declined": {"orderId": "x"}})
    assert pipeline.to_plain(decision) == {
        "declined": {"orderId": "x", "decidedAt": None, "declineReason": None}
    }
