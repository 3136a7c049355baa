"""What the csv-payments mock provider answers: its deterministic decision per payment record,
the completion envelope for a dispatch, and its counts. Kept apart from
:mod:`demos.csv_payments.provider` (the broker loops) so each stays small.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from demos.restaurant_approval.responder import (
    Dispatch,
    DispatchError,
    answer_envelope,
    parse_envelope,
)

ACTOR = "payment-provider"
DECLINE_REASON = "declined by the provider: insufficient funds"


def declines(csv_id: str) -> bool:
    """The provider's one rule: records whose numeric id ends in 7 are declined (one in ten);
    an id that is not a number is declined when its hash says so (also about one in ten)."""
    try:
        return int(csv_id) % 10 == 7
    except ValueError:
        return hashlib.sha256(csv_id.encode()).digest()[0] % 10 == 7


def reference_of(record: dict[str, Any]) -> str:
    """A payment reference derived from the record, the same on every answer to it."""
    text = "|".join(str(record.get(k, "")) for k in ("csvId", "recipient", "amount", "currency"))
    return "PAY-" + hashlib.sha256(text.encode()).hexdigest()[:16].upper()


def decide(record: dict[str, Any]) -> dict[str, Any]:
    """The ``responsePayload`` answering one payment record (a ``PaymentRecord``'s JSON)."""
    fields = {k: record.get(k) for k in ("csvId", "recipient", "amount", "currency")}
    if declines(str(fields["csvId"])):
        return {"unapproved": {**fields, "reason": DECLINE_REASON}}
    return {"approved": {**fields, "reference": reference_of(record)}}


def parse_request(body: bytes | str) -> Dispatch:
    """A dispatch envelope asking about a payment record (it names a ``csvId``)."""
    dispatch = parse_envelope(body)
    if not isinstance(dispatch.request.get("csvId"), str):
        raise DispatchError("dispatch envelope: requestPayload.csvId is required (a string)")
    return dispatch


def answer(dispatch: Dispatch, reference: str = "interactionId") -> dict[str, Any]:
    """The completion envelope for ``dispatch``."""
    return answer_envelope(dispatch, decide(dispatch.request), reference=reference, actor=ACTOR)


@dataclass
class Counts:
    answered: int = 0
    skipped: int = 0
    approved: int = 0
    unapproved: int = 0

    def add(self, envelope: dict[str, Any]) -> None:
        self.answered += 1
        if "approved" in envelope["responsePayload"]:
            self.approved += 1
        else:
            self.unapproved += 1
