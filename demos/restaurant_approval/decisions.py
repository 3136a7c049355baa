"""The restaurant's side of the await: which orders it declines, and the answer it sends.

One rule for every lane: a restaurant whose kitchen is closed tonight (:data:`CLOSED_KITCHENS`),
or an order whose customer or restaurant name says "decline", is declined; every other order
is accepted. The broker responder (``responder.py``) applies it to each await request; the REST
demo's declined order goes to a closed kitchen, so both lanes answer its two orders alike, and
``flows.complete`` sends the same answer this module builds. The answer is the plain JSON of the
await's output type, ``RestaurantDecision`` (``pipeline.py``): exactly one of
``{"accepted": {...}}`` / ``{"declined": {...}}``, each with the order's ``orderId``.
"""

from __future__ import annotations

from typing import Any, Literal

Decision = Literal["accepted", "declined"]

# The REST demo's declined order goes to this restaurant; the broker demos reuse the order.
CLOSED_KITCHENS = frozenset({"Bistro Queue"})
NOTE = "See you at seven"
DECLINE_REASON = "Kitchen is closed tonight"


def decide(request: dict[str, Any]) -> Decision:
    """Accept unless the restaurant is closed or a name in the order says decline."""
    restaurant = str(request.get("restaurantName") or "")
    customer = str(request.get("customerName") or "")
    if restaurant in CLOSED_KITCHENS:
        return "declined"
    if any("decline" in name.lower() for name in (restaurant, customer)):
        return "declined"
    return "accepted"


def decision_payload(order_id: str, decision: Decision, decided_at: str) -> dict[str, Any]:
    """The ``RestaurantDecision`` answer for ``order_id`` (plain JSON, camelCase)."""
    if decision not in ("accepted", "declined"):
        raise ValueError(f"decision must be accepted or declined, got {decision!r}")
    body: dict[str, Any] = {"orderId": order_id, "decidedAt": decided_at}
    if decision == "accepted":
        body["note"] = NOTE
    else:
        body["declineReason"] = DECLINE_REASON
    return {decision: body}
