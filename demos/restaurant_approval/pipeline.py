"""The restaurant approval pipeline (spec §11.1), with the original's wire names.

Steps: 0 validate the order → 1 create the pending approval → 2 await the restaurant's decision
(30 minutes, keyed by ``orderId``) → 3 finalize into a terminal order state. Finalize reads the
validated order through its step context (``ctx: StepContext``) and refuses, non-retryably, a
decision for another order. Step code is pure: no I/O, no wall-clock reads, and ids are derived
from the input so a retried transition produces the same output. Being cheap and non-blocking,
the steps are ``async def``: they run on the event loop, where a plain ``def`` step would pay a
hop to a worker thread (see :mod:`tpf.step_threads`).

The Structs are camelCase so the original demo clients' JSON decodes unchanged, and their type
ids are the original's Java class names.
"""

from __future__ import annotations

import decimal
import re
import uuid
from typing import Literal

import msgspec

from tpf.errors import NonRetryableError
from tpf.pipeline import Pipeline, StepContext

PIPELINE_ID = "org.pipelineframework.restaurantapproval"
AWAIT_STEP_ID = "ProcessAwaitRestaurantDecisionService"
VALIDATE_STEP = "Validate Order Request"
_DTO = "org.pipelineframework.restaurantapproval.common.dto."
_DOMAIN = "org.pipelineframework.restaurantapproval.common.domain."
# uuid5 namespace for order ids: a retry of "Validate Order Request" yields the same orderId.
_ORDER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:tpf:restaurant-approval:order")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


class _Dto(msgspec.Struct, frozen=True, rename="camel"):
    """camelCase on the wire, like the original's Jackson DTOs (subclasses add kw_only)."""


class PlaceRestaurantOrderRequest(_Dto, frozen=True, kw_only=True):
    request_id: str | None = None
    customer_name: str
    restaurant_name: str
    items: str
    total_amount: str
    currency: str


class ValidatedRestaurantOrder(_Dto, frozen=True, kw_only=True):
    order_id: str
    request_id: str | None = None
    customer_name: str
    restaurant_name: str
    items: str
    total_amount: str
    currency: str


class PendingRestaurantApproval(_Dto, frozen=True, kw_only=True):
    order_id: str
    customer_name: str
    restaurant_name: str
    items: str
    total_amount: str
    currency: str
    requested_at: str | None = None


class RestaurantOrderAccepted(_Dto, frozen=True, kw_only=True):
    # A str, not a UUID: a malformed id must pass shape validation and fail in step 3 as a
    # business rule, which is what the incident demo exercises.
    order_id: str
    decided_at: str | None = None
    note: str | None = None


class RestaurantOrderDeclined(_Dto, frozen=True, kw_only=True):
    order_id: str
    decided_at: str | None = None
    decline_reason: str | None = None


class RestaurantDecision(_Dto, frozen=True, kw_only=True, omit_defaults=True):
    """The original's union: exactly one of ``{"accepted": ...}`` / ``{"declined": ...}``.

    Both members are optional fields, so the type alone would take ``{}`` (and, undeclared keys
    aside, ``{"foo": 1}``); the check below makes "exactly one" part of the type, so such an
    answer is refused when the restaurant completes the await instead of failing Finalize.
    """

    accepted: RestaurantOrderAccepted | None = None
    declined: RestaurantOrderDeclined | None = None

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into a validation error of the decoded value.
        if (self.accepted is None) == (self.declined is None):
            raise ValueError("exactly one of accepted/declined must be set")


class TerminalOrderState(_Dto, frozen=True, kw_only=True):
    order_id: str
    outcome: Literal["APPROVED", "DECLINED"]
    resolved_at: str
    restaurant_status: str
    summary: str


pipeline = Pipeline(
    PIPELINE_ID,
    type_ids={
        PlaceRestaurantOrderRequest: _DTO + "PlaceRestaurantOrderRequestDto",
        ValidatedRestaurantOrder: _DOMAIN + "ValidatedRestaurantOrder",
        PendingRestaurantApproval: _DOMAIN + "PendingRestaurantApproval",
        RestaurantOrderAccepted: _DOMAIN + "RestaurantOrderAccepted",
        RestaurantOrderDeclined: _DOMAIN + "RestaurantOrderDeclined",
        RestaurantDecision: _DOMAIN + "RestaurantDecision",
        TerminalOrderState: _DOMAIN + "TerminalOrderState",
    },
)


@pipeline.step(VALIDATE_STEP)
async def validate_order(request: PlaceRestaurantOrderRequest) -> ValidatedRestaurantOrder:
    for label, value in (
        ("customerName", request.customer_name),
        ("restaurantName", request.restaurant_name),
        ("items", request.items),
    ):
        if not value.strip():
            raise NonRetryableError(f"{label} must not be blank")
    try:
        amount = decimal.Decimal(request.total_amount.strip())
    except decimal.InvalidOperation:
        raise NonRetryableError(f"totalAmount is not a number: {request.total_amount!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise NonRetryableError(f"totalAmount must be positive: {request.total_amount!r}")
    currency = request.currency.strip().upper()
    if not _CURRENCY_RE.fullmatch(currency):
        raise NonRetryableError(f"currency must be a 3-letter ISO code: {request.currency!r}")
    # Without a requestId the order's content is its identity (still deterministic).
    seed = request.request_id or msgspec.json.encode(request, order="sorted").decode()
    return ValidatedRestaurantOrder(
        order_id=str(uuid.uuid5(_ORDER_NAMESPACE, seed)),
        request_id=request.request_id,
        customer_name=request.customer_name.strip(),
        restaurant_name=request.restaurant_name.strip(),
        items=request.items.strip(),
        total_amount=str(amount),
        currency=currency,
    )


@pipeline.step("Create Pending Approval")
async def create_pending_approval(order: ValidatedRestaurantOrder) -> PendingRestaurantApproval:
    return PendingRestaurantApproval(
        order_id=order.order_id,
        customer_name=order.customer_name,
        restaurant_name=order.restaurant_name,
        items=order.items,
        total_amount=order.total_amount,
        currency=order.currency,
    )


pipeline.await_step(
    "Await Restaurant Decision",
    step_id=AWAIT_STEP_ID,
    output=RestaurantDecision,
    timeout="PT30M",
    key_fields=("orderId",),
)


@pipeline.step("Finalize Restaurant Decision")
async def finalize_decision(decision: RestaurantDecision, ctx: StepContext) -> TerminalOrderState:
    # The order this execution validated, from the step context: a decision for another order
    # (a restaurant answering the wrong task) must not finalize this one.
    order: ValidatedRestaurantOrder = ctx.output(VALIDATE_STEP)
    if decision.accepted is not None:
        accepted = decision.accepted
        order_id = _same_order(_order_uuid(accepted.order_id), order)
        return TerminalOrderState(
            order_id=order_id,
            outcome="APPROVED",
            resolved_at=accepted.decided_at or "",
            restaurant_status="ACCEPTED",
            summary=f"Restaurant accepted order {order_id}"
            + (f": {accepted.note}" if accepted.note else ""),
        )
    declined = decision.declined
    assert declined is not None  # RestaurantDecision holds exactly one of the two
    order_id = _same_order(_order_uuid(declined.order_id), order)
    return TerminalOrderState(
        order_id=order_id,
        outcome="DECLINED",
        resolved_at=declined.decided_at or "",
        restaurant_status="DECLINED",
        summary=f"Restaurant declined order {order_id}"
        + (f": {declined.decline_reason}" if declined.decline_reason else ""),
    )


def _same_order(order_id: str, order: ValidatedRestaurantOrder) -> str:
    if order_id != order.order_id:
        raise NonRetryableError(
            f"decision is for order {order_id}, but this execution validated order {order.order_id}"
        )
    return order_id


def _order_uuid(order_id: str) -> str:
    try:
        return str(uuid.UUID(order_id))
    except ValueError:
        raise NonRetryableError(f"orderId is not a UUID: {order_id!r}") from None
