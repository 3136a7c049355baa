"""The original demo client's flows over HTTP, with its exact JSON (spec §2.1, §11.1).

Payloads are the original's envelopes: the order as a typed DTO (``payloadTypeId`` a Java class
name, ``payload`` a JSON text) and the restaurant's decision as nested ``java.util.Map``
envelopes. Existing TPF clients send exactly this and must work unchanged.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from tests.http.conftest import (
    ADMIN,
    AWAIT_STEP,
    ORDER,
    PIPELINE_ID,
    Api,
    ApiFactory,
    decision_envelope,
    ok,
    order_envelope,
)

CUSTOMERS = {
    "accepted": ("Ada Lovelace", "Cafe TPF", "APPROVED"),
    "declined": ("Grace Hopper", "Bistro Queue", "DECLINED"),
}


async def _submit_and_park(api: Api, customer: str, restaurant: str) -> dict[str, Any]:
    order = {
        **ORDER,
        "requestId": str(uuid.uuid4()),
        "customerName": customer,
        "restaurantName": restaurant,
    }
    body = {
        "pipelineId": PIPELINE_ID,
        "inputShape": "UNI",
        "inputPayload": order_envelope(order),
        "idempotencyKey": f"order-{uuid.uuid4()}",
        "outputStreaming": False,
    }
    accepted = await ok(api.cp("POST", "/executions", json=body))
    status = await api.wait_status(accepted["executionId"])
    assert status["status"] == "WAITING_EXTERNAL", status
    pending = await ok(api.cp("GET", f"/interactions/pending?stepId={AWAIT_STEP}"))
    [task] = [p for p in pending if p["executionId"] == accepted["executionId"]]
    assert task["stepId"] == AWAIT_STEP and task["requestPayload"]["customerName"] == customer
    return dict(task)


@pytest.mark.parametrize("decision", ["accepted", "declined"])
async def test_restaurant_flow(released: Api, decision: str) -> None:
    customer, restaurant, outcome = CUSTOMERS[decision]
    task = await _submit_and_park(released, customer, restaurant)
    fields = {"orderId": task["requestPayload"]["orderId"], "decidedAt": "2026-01-01T12:00:00Z"}
    fields["note" if decision == "accepted" else "declineReason"] = "from the kitchen"
    body = {
        "interactionId": task["interactionId"],
        "correlationId": None,
        "resumeToken": None,
        "idempotencyKey": f"complete-{task['interactionId']}",
        "responsePayload": decision_envelope(decision, fields),
        "actor": "restaurant-self-host-demo",
    }
    done = await ok(released.cp("POST", "/interactions/complete", json=body))
    assert done["status"] == "COMPLETED" and done["duplicate"] is False
    eid = task["executionId"]
    result = await ok(released.cp("GET", f"/executions/{eid}/result?waitMs=5000"))
    assert result["status"]["status"] == "SUCCEEDED"
    terminal = json.loads(result["resultPayload"]["payload"])
    assert terminal["outcome"] == outcome and terminal["orderId"] == fields["orderId"]


async def test_incident_flow(make_api: ApiFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="tpf")
    api = await make_api(retries__max_retries=0)
    await api.release()
    task = await _submit_and_park(api, "Katherine Johnson", "Faulty Kitchen")
    bad = decision_envelope("accepted", {"orderId": "not-a-uuid", "decidedAt": "now"})
    body = {"interactionId": task["interactionId"], "responsePayload": bad, "actor": "demo"}
    await ok(api.cp("POST", "/interactions/complete", json=body))
    eid = task["executionId"]
    failed = await api.wait_status(eid)
    assert failed["status"] in ("FAILED", "DLQ") and failed["errorCode"] and failed["errorMessage"]
    assert any(
        "Execution moved to DLQ" in r.getMessage() and eid in r.getMessage() for r in caplog.records
    )
    redrive = {
        "expectedVersion": failed["version"],
        "reason": "self-host incident demo re-drive",
        "allowFailed": True,
    }
    driven = await ok(api.admin("POST", f"{ADMIN}/executions/{eid}/redrive", json=redrive))
    assert driven["previousStatus"] == failed["status"] and driven["status"] == "QUEUED"
    again = await api.wait_status(eid)
    assert again["status"] in ("FAILED", "DLQ") and again["version"] > failed["version"]
