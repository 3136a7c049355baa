"""Refusing and correcting a bad human answer over real HTTP (issue 7, defect 6): a wrong answer
is a 400 naming the field, a different second answer a 409 saying who answered and when, and
``reopenAwait`` re-parks a FAILED execution so the corrected answer completes it."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.http.conftest import (
    ADMIN,
    Api,
    decision_envelope,
    envelope,
    error,
    ok,
)

COMPLETE = "/interactions/complete"
REDRIVE = f"{ADMIN}/executions"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def decision(kind: str, order_id: str, **more: str) -> dict[str, Any]:
    """The original client's nested java.util.Map envelopes of ``{kind: {...}}``."""
    return decision_envelope(
        kind, {"orderId": order_id, "decidedAt": "2026-01-01T00:00:00Z", **more}
    )


def completion(task: dict[str, Any], payload: Any, actor: str | None = None) -> dict[str, Any]:
    body = {"interactionId": task["interactionId"], "responsePayload": payload}
    return body if actor is None else {**body, "actor": actor}


def order_of(task: dict[str, Any]) -> str:
    order_id: str = task["requestPayload"]["orderId"]
    return order_id


async def test_a_wrong_answer_is_a_400_naming_the_field(released: Api) -> None:
    eid = await released.submit()
    task = await released.parked(eid)
    cases: list[tuple[Any, str, str]] = [
        # An untyped envelope with a number where the type declares a string.
        (
            envelope(None, json.dumps({"accepted": {"orderId": 42}})),
            "responsePayload.accepted.orderId",
            "expected `str`, got `int`",
        ),
        ({"accepted": {"note": "no id"}}, "responsePayload.accepted.orderId", "required field"),
        ({"foo": 1}, "responsePayload.foo", "undeclared field (declared: accepted, declined)"),
        (
            decision("accepted", order_of(task), orderid="typo"),
            "responsePayload.accepted.orderid",
            "undeclared field",
        ),
        ({}, "responsePayload", "exactly one of accepted/declined must be set"),
    ]
    for payload, field, problem in cases:
        err = await error(released.cp("POST", COMPLETE, json=completion(task, payload)), 400)
        assert err["code"] == "INVALID_REQUEST"
        assert err["message"].startswith(f"{field}: ") and problem in err["message"], err
        assert err["details"] == {"field": field}
    # Nothing was stored: the interaction is still open and the right answer completes it.
    assert (await released.parked(eid))["status"] == "DISPATCHED"
    done = await ok(
        released.cp("POST", COMPLETE, json=completion(task, decision("accepted", order_of(task))))
    )
    assert done["duplicate"] is False
    final = await ok(released.cp("GET", f"/executions/{eid}?waitMs=5000"))
    assert final["status"] == "SUCCEEDED"


async def test_a_different_second_answer_is_a_409_and_the_same_one_a_duplicate(
    released: Api,
) -> None:
    eid = await released.submit()
    task = await released.parked(eid)
    right = decision("accepted", order_of(task), note="see you")
    first = await ok(released.cp("POST", COMPLETE, json=completion(task, right, "alice")))
    assert first["duplicate"] is False
    wrong = decision("declined", order_of(task), declineReason="closed")
    err = await error(released.cp("POST", COMPLETE, json=completion(task, wrong, "bob")), 409)
    assert err["code"] == "INTERACTION_ALREADY_COMPLETED"
    details = err["details"]
    assert details["completedBy"] == "alice"
    assert ISO_UTC.fullmatch(details["completedAt"]), details
    assert f"already completed by alice at {details['completedAt']}" in err["message"]
    assert details["interactionId"] == task["interactionId"] and details["executionId"] == eid
    # The identical answer, even from someone else: still the harmless duplicate.
    again = await ok(released.cp("POST", COMPLETE, json=completion(task, right, "bob")))
    assert again == {**first, "duplicate": True}
    final = await ok(released.cp("GET", f"/executions/{eid}/result?waitMs=5000"))
    assert json.loads(final["resultPayload"]["payload"])["outcome"] == "APPROVED"


async def test_reopen_await_re_parks_and_the_corrected_answer_completes(released: Api) -> None:
    eid = await released.submit()
    task = await released.parked(eid)
    bad = decision("accepted", "not-a-uuid")
    await ok(released.cp("POST", COMPLETE, json=completion(task, bad, "restaurant")))
    failed = await ok(released.cp("GET", f"/executions/{eid}?waitMs=5000"))
    assert failed["status"] == "FAILED" and "not a UUID" in failed["errorMessage"]
    # The correction on the answered interaction is refused, pointing at the re-drive.
    fixed = decision("accepted", order_of(task))
    err = await error(released.cp("POST", COMPLETE, json=completion(task, fixed)), 409)
    assert "reopenAwait" in err["message"]

    body = {"expectedVersion": failed["version"], "reason": "bad orderId", "reopenAwait": True}
    redriven = await ok(released.admin("POST", f"{REDRIVE}/{eid}/redrive", json=body))
    assert redriven["previousStatus"] == "FAILED" and redriven["status"] == "QUEUED"
    assert redriven["currentStepIndex"] == task["stepIndex"] == failed["stepIndex"] - 1
    assert redriven["attempt"] == failed["attempt"] + 1
    assert redriven["reopenedInteractionId"] == task["interactionId"]
    fresh = await released.parked(eid)  # WAITING_EXTERNAL again, on a fresh interaction
    assert fresh["interactionId"] != task["interactionId"]
    assert fresh["requestPayload"] == task["requestPayload"]
    await ok(released.cp("POST", COMPLETE, json=completion(fresh, fixed, "restaurant")))
    result = await ok(released.cp("GET", f"/executions/{eid}/result?waitMs=5000"))
    assert result["status"]["status"] == "SUCCEEDED"
    assert json.loads(result["resultPayload"]["payload"])["outcome"] == "APPROVED"
    # The re-drive is in the record's history with its reason and the re-opened interaction.
    record = await released.coordinator.status("restaurant-demo", eid)
    (entry,) = record.redrives
    assert entry.reason == "bad orderId"
    assert entry.reopened_interaction_id == task["interactionId"]


async def test_reopen_await_is_refused_when_not_failed(released: Api) -> None:
    eid = await released.submit()
    await released.parked(eid)
    path = f"{REDRIVE}/{eid}/redrive"
    err = await error(released.admin("POST", path, json={"reopenAwait": True}), 409)
    assert "only a FAILED execution can re-open its await" in err["message"]
    err = await error(released.admin("POST", path, json={"reopenAwait": "yes"}), 400)
    assert err["message"] == "reopenAwait: Expected bool, got str"


async def test_openapi_documents_the_new_fields(released: Api) -> None:
    document = await ok(released.raw("GET", "/q/openapi"))
    schemas = document["components"]["schemas"]
    reopen = schemas["RedriveRequest"]["properties"]["reopenAwait"]
    assert reopen["type"] == "boolean" and "FAILED" in reopen["description"]
    assert "reopenedInteractionId" in schemas["RedriveResponse"]["properties"]
    assert "details" in schemas["ErrorDetail"]["properties"]
    complete = document["paths"]["/tpf/control-plane/tenants/{tenantId}/interactions/complete"]
    assert "409" in complete["post"]["responses"]
