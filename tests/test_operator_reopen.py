"""Correcting a bad answer with the operator commands, run as operators run them: ``executions
result`` of a FAILED execution exits non-zero, a second different answer is refused with who
and when, and ``redrive --reopen-await`` lets the corrected answer complete the execution."""

from __future__ import annotations

import json
import uuid
from typing import Any

from demos.restaurant_approval.pipeline import PIPELINE_ID
from demos.restaurant_approval.server import DemoServer
from tests.test_operator_cli import json_of, tpf

EXIT_EXECUTION_FAILED = 3


def submit_and_park(server: DemoServer) -> tuple[str, dict[str, Any]]:
    order = {
        "requestId": str(uuid.uuid4()),
        "customerName": "Katherine Johnson",
        "restaurantName": "Faulty Kitchen",
        "items": "Soup",
        "totalAmount": "7.00",
        "currency": "EUR",
    }
    args = ("executions", "submit", "--pipeline-id", PIPELINE_ID, "--input", json.dumps(order))
    eid: str = json_of(tpf(server, *args, "--json"))["executionId"]
    parked = json_of(tpf(server, "executions", "get", eid, "--wait-ms", "10000", "--json"))
    assert parked["status"] == "WAITING_EXTERNAL", parked
    pending = json_of(tpf(server, "interactions", "pending", "--limit", "1000", "--json"))
    return eid, next(p for p in pending if p["executionId"] == eid)


def answer(server: DemoServer, interaction: dict[str, Any], order_id: str) -> Any:
    response = json.dumps({"accepted": {"orderId": order_id, "note": "ok"}})
    return tpf(
        server,
        "interactions",
        "complete",
        "--interaction-id",
        interaction["interactionId"],
        "--response",
        response,
        "--actor",
        "ops",
    )


def test_a_bad_answer_is_corrected_by_reopening_the_await(restaurant_server: DemoServer) -> None:
    server = restaurant_server
    eid, first = submit_and_park(server)
    assert answer(server, first, "not-a-uuid").returncode == 0
    failed = json_of(tpf(server, "executions", "get", eid, "--wait-ms", "10000", "--json"))
    assert failed["status"] == "FAILED", failed

    result = tpf(server, "executions", "result", eid)
    assert result.returncode == EXIT_EXECUTION_FAILED, (result.stdout, result.stderr)
    assert f"execution {eid}: FAILED" in result.stdout
    assert f"error: execution {eid} FAILED: NonRetryableError: orderId is not a UUID" in (
        result.stderr
    )
    as_json = tpf(server, "executions", "result", eid, "--json")
    assert as_json.returncode == EXIT_EXECUTION_FAILED
    assert json.loads(as_json.stdout)["status"]["status"] == "FAILED"

    corrected = first["requestPayload"]["orderId"]
    refused = answer(server, first, corrected)
    assert refused.returncode == 1
    assert "HTTP 409 INTERACTION_ALREADY_COMPLETED" in refused.stderr
    assert "already completed by ops at 20" in refused.stderr  # an ISO-8601 instant

    redriven = tpf(server, "redrive", eid, "--reopen-await", "--reason", "bad orderId")
    assert redriven.returncode == 0, redriven.stderr
    assert f"execution {eid} re-driven: FAILED -> QUEUED" in redriven.stdout
    assert f"await re-opened (answer of {first['interactionId']} set aside)" in redriven.stdout
    parked = json_of(tpf(server, "executions", "get", eid, "--wait-ms", "10000", "--json"))
    assert parked["status"] == "WAITING_EXTERNAL", parked
    pending = json_of(tpf(server, "interactions", "pending", "--limit", "1000", "--json"))
    fresh = next(p for p in pending if p["executionId"] == eid)
    assert fresh["interactionId"] != first["interactionId"]
    assert answer(server, fresh, corrected).returncode == 0

    done = tpf(server, "executions", "result", eid, "--wait-ms", "10000")
    assert done.returncode == 0, done.stderr
    assert f"execution {eid}: SUCCEEDED" in done.stdout
    again = tpf(server, "redrive", eid, "--reopen-await", "--reason", "twice")
    assert again.returncode == 1
    assert "HTTP 409" in again.stderr and "only a FAILED execution" in again.stderr


def test_a_wrong_answer_is_refused_naming_the_field(restaurant_server: DemoServer) -> None:
    _, interaction = submit_and_park(restaurant_server)
    done = tpf(
        restaurant_server,
        "interactions",
        "complete",
        "--interaction-id",
        interaction["interactionId"],
        "--response",
        '{"foo": 1}',
    )
    assert done.returncode == 1
    assert "HTTP 400 INVALID_REQUEST: responsePayload.foo: undeclared field" in done.stderr
