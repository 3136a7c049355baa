# ruff: noqa: UP031, B904 -- written the way the original (pre-f-string) demo client is

"""A client that talks exactly like the original TPF demo client: stdlib only, original JSON.

It imports nothing from this project on purpose: existing TPF clients know nothing of it. It
submits typed DTO envelopes (``payloadTypeId`` = Java class names), completes awaits with nested
``java.util.Map`` envelopes, and polls statuses, as ``examples/restaurant-approval`` does.

Usage: ``python original_client.py BASE_URL TOKEN TENANT PIPELINE_ID FLOW`` with FLOW one of
``accepted``, ``declined``, ``incident``; prints one JSON line describing what it saw.
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid

ENCODING = "application/tpf-transition+json"
ORDER_TYPE = "org.pipelineframework.restaurantapproval.common.dto.PlaceRestaurantOrderRequestDto"
AWAIT_STEP = "ProcessAwaitRestaurantDecisionService"


def to_transition_payload(value):
    """The original client's encoding: Java types, nested envelopes for maps and lists."""
    if value is None:
        return {"payloadTypeId": "null", "payloadEncoding": ENCODING, "payload": "null"}
    if isinstance(value, bool):
        type_id = "java.lang.Boolean"
    elif isinstance(value, int):
        type_id = "java.lang.Long"
    elif isinstance(value, float):
        type_id = "java.lang.Double"
    elif isinstance(value, str):
        type_id = "java.lang.String"
    elif isinstance(value, dict):
        items = {k: to_transition_payload(v) for k, v in value.items()}
        return {
            "payloadTypeId": "java.util.Map",
            "payloadEncoding": ENCODING,
            "payload": json.dumps({"items": items}),
        }
    elif isinstance(value, list):
        items = [to_transition_payload(v) for v in value]
        return {
            "payloadTypeId": "java.util.List",
            "payloadEncoding": ENCODING,
            "payload": json.dumps({"items": items}),
        }
    else:
        raise TypeError(type(value))
    return {"payloadTypeId": type_id, "payloadEncoding": ENCODING, "payload": json.dumps(value)}


class Client:
    def __init__(self, base_url, token, tenant):
        self.base = base_url.rstrip("/")
        self.token = token
        self.tenant = tenant

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.token)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode("utf-8"))

    def cp(self, suffix):
        return "/tpf/control-plane/tenants/" + self.tenant + suffix

    def admin(self, suffix):
        return "/tpf/admin/tenants/" + self.tenant + suffix


def poll(client, execution_id, wanted, timeout=60.0):
    deadline = time.time() + timeout
    while True:
        status = client.call("GET", client.cp("/executions/" + execution_id))
        if status["status"] in wanted:
            return status
        if time.time() > deadline:
            raise SystemExit("timed out waiting for %s, last %s" % (wanted, status))
        time.sleep(0.1)  # the original client polls


def submit(client, pipeline_id, customer, restaurant):
    order = {
        "requestId": str(uuid.uuid4()),
        "customerName": customer,
        "restaurantName": restaurant,
        "items": "Margherita Pizza, Sparkling Water",
        "totalAmount": "27.50",
        "currency": "EUR",
    }
    body = {
        "pipelineId": pipeline_id,
        "inputShape": "UNI",
        "inputPayload": {
            "payloadTypeId": ORDER_TYPE,
            "payloadEncoding": ENCODING,
            "payload": json.dumps(order),
        },
        "idempotencyKey": "order-" + str(uuid.uuid4()),
        "outputStreaming": False,
    }
    return client.call("POST", client.cp("/executions"), body)


def complete(client, interaction, decision, order_id):
    body = {"orderId": order_id, "decidedAt": "2026-11-27T19:00:00Z"}
    if decision == "accepted":
        body["note"] = "ok"
    else:
        body["declineReason"] = "closed"
    request = {
        "interactionId": interaction["interactionId"],
        "idempotencyKey": "complete-" + interaction["interactionId"],
        "responsePayload": to_transition_payload({decision: body}),
        "actor": "restaurant-self-host-demo",
    }
    return client.call("POST", client.cp("/interactions/complete"), request)


def main():
    base_url, token, tenant, pipeline_id, flow = sys.argv[1:6]
    client = Client(base_url, token, tenant)
    accepted = submit(client, pipeline_id, "Ada Lovelace", "Cafe TPF")
    execution_id = accepted["executionId"]
    poll(client, execution_id, {"WAITING_EXTERNAL"})
    pending = client.call(
        "GET", client.cp("/interactions/pending?stepId=" + AWAIT_STEP + "&limit=100")
    )
    interaction = next(p for p in pending if p["executionId"] == execution_id)
    decision = "declined" if flow == "declined" else "accepted"
    order_id = "not-a-uuid" if flow == "incident" else interaction["requestPayload"]["orderId"]
    completion = complete(client, interaction, decision, order_id)
    final = poll(client, execution_id, {"SUCCEEDED", "FAILED", "DLQ"})
    result = client.call("GET", client.cp("/executions/" + execution_id + "/result"))
    seen = {
        "submit": accepted,
        "interaction": interaction,
        "completion": completion,
        "final": final,
        "result": result,
    }
    if flow == "incident":
        redrive = client.call(
            "POST",
            client.admin("/executions/" + execution_id + "/redrive"),
            {"expectedVersion": final["version"], "reason": "incident", "allowFailed": True},
        )
        seen["redrive"] = redrive
        deadline = time.time() + 60
        while True:
            again = client.call("GET", client.cp("/executions/" + execution_id))
            if again["version"] > redrive["version"] and again["status"] in ("FAILED", "DLQ"):
                break
            if time.time() > deadline:
                raise SystemExit("re-driven execution did not fail again: %s" % again)
            time.sleep(0.1)  # the original client polls
        seen["again"] = again
    print(json.dumps(seen))


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as exc:
        raise SystemExit("HTTP %s: %s" % (exc.code, exc.read().decode("utf-8", "replace")))
