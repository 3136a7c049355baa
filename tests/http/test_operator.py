"""The operator's view over REST (issue 12), on memory and SQLite: search with filters and
paging, history of a restaurant run, include permissions, the interaction detail, cancel of
parked, running and terminal executions, completion after cancel, bulk re-drive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from demos.restaurant_approval.pipeline import PIPELINE_ID
from tests.aws_calls import store_calls
from tests.http import gate
from tests.http.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    CP,
    Api,
    ApiFactory,
    decision_envelope,
    error,
    ok,
    order_envelope,
    submit_gated,
)
from tpf.config.settings import Settings

STORES = {
    "memory": {},
    "sqlite": {
        "state__provider": "sqlite",
        "releases__registry_provider": "file",
        "workers__lifecycle_provider": "sqlite",
    },
}


def _dynamo(request: pytest.FixtureRequest) -> dict[str, Any]:
    # The session's tables, emptied (tests.shared_tables): creating them per test cost seconds.
    settings: Settings = request.getfixturevalue("dynamo_settings")
    return {
        "state__provider": "dynamo",
        "dynamo__region": settings.dynamo.region,
        "dynamo__endpoint_override": settings.dynamo.endpoint_override,
    }


@pytest.fixture(params=[*sorted(STORES), "dynamo"])
async def op(request: pytest.FixtureRequest, make_api: ApiFactory) -> AsyncIterator[Api]:
    gate.GATE.event = asyncio.Event()
    overrides = _dynamo(request) if request.param == "dynamo" else STORES[request.param]
    api = await make_api(host=(gate.pipeline,), **overrides)
    stores = api.coordinator.stores
    counted = [store_calls(stores.executions), store_calls(stores.awaits)]
    if request.param == "dynamo":
        assert None not in counted  # the counters see the stores' client
    await api.release()
    await api.release(gate.pipeline)
    try:
        yield api
    finally:
        gate.GATE.event.set()  # a held step finishes before the coordinator closes
    for ops in counted:
        if ops is not None:  # DynamoDB: every read above was a Query or a GetItem, no Scan
            assert sum(ops.values()) > 0 and ops["Scan"] == 0, ops


def accepted(task: dict[str, Any]) -> dict[str, Any]:
    order_id = task["requestPayload"]["orderId"]
    return decision_envelope("accepted", {"orderId": order_id, "decidedAt": "2026-01-01T00:00:00Z"})


async def complete(api: Api, task: dict[str, Any], actor: str = "ops@example.com") -> Any:
    body = {
        "interactionId": task["interactionId"],
        "responsePayload": accepted(task),
        "actor": actor,
    }
    return await ok(api.cp("POST", "/interactions/complete", json=body))


async def submit_order(api: Api, n: int) -> str:
    order = {
        "requestId": f"req-{n}",
        "customerName": "Ada Lovelace",
        "restaurantName": "Cafe TPF",
        "items": "Pizza",
        "totalAmount": "27.50",
        "currency": "EUR",
    }
    body = {"pipelineId": PIPELINE_ID, "inputShape": "UNI", "inputPayload": order_envelope(order)}
    accepted_ = await ok(api.cp("POST", "/executions", json=body))
    eid: str = accepted_["executionId"]
    return eid


# --------------------------------------------------------------------------- search


async def test_search_filters_and_pages_newest_first(op: Api) -> None:
    ids = [await submit_order(op, n) for n in range(5)]
    for eid in ids:
        await op.parked(eid)
    first = await ok(op.cp("GET", f"/executions?pipelineId={PIPELINE_ID}&limit=2"))
    assert len(first["items"]) == 2 and first["nextCursor"]
    seen = [i["executionId"] for i in first["items"]]
    cursor = first["nextCursor"]
    while cursor:
        page = await ok(
            op.cp("GET", f"/executions?pipelineId={PIPELINE_ID}&limit=2&cursor={cursor}")
        )
        seen += [i["executionId"] for i in page["items"]]
        cursor = page["nextCursor"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    updated = [i["updatedAtEpochMs"] for i in first["items"]]
    assert updated == sorted(updated, reverse=True)
    item = first["items"][0]
    assert item["status"] == "WAITING_EXTERNAL"
    assert item["stepId"] == "ProcessAwaitRestaurantDecisionService"
    assert set(item) == {
        "executionId", "pipelineId", "releaseVersion", "status", "stepIndex", "stepId",
        "attempt", "errorCode", "errorMessage", "createdAtEpochMs", "updatedAtEpochMs", "version",
    }  # fmt: skip
    # Filters: a status nothing has, a step, a time window.
    none = await ok(op.cp("GET", "/executions?status=SUCCEEDED"))
    assert none == {"items": [], "nextCursor": None}
    by_step = await ok(op.cp("GET", "/executions?stepId=ProcessAwaitRestaurantDecisionService"))
    assert len(by_step["items"]) == 5
    future = await ok(op.cp("GET", "/executions?updatedAfter=2999-01-01T00:00:00Z"))
    assert future["items"] == []
    past = await ok(op.cp("GET", "/executions?updatedBefore=1000"))
    assert past["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=NOPE", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("updatedAfter=yesterday", "updatedAfter"),
        ("updatedBefore=2026-13-01", "updatedBefore"),
        ("cursor=!!!", "cursor"),
    ],
)
async def test_bad_search_parameters_are_400_naming_them(op: Api, query: str, field: str) -> None:
    err = await error(op.cp("GET", f"/executions?{query}"), 400)
    assert err["message"].startswith(field), err


async def test_pending_pages_by_header_and_filters_by_execution(op: Api) -> None:
    ids = [await submit_order(op, n) for n in range(3)]
    for eid in ids:
        await op.parked(eid)
    response = await op.cp("GET", "/interactions/pending?limit=2")
    assert response.status == 200
    first = await response.json()
    assert len(first) == 2
    cursor = response.headers["X-Next-Cursor"]
    rest = await op.cp("GET", f"/interactions/pending?limit=2&cursor={cursor}")
    assert "X-Next-Cursor" not in rest.headers
    seen = {i["executionId"] for i in first + await rest.json()}
    assert seen == set(ids)
    only = await ok(op.cp("GET", f"/interactions/pending?executionId={ids[1]}"))
    assert [i["executionId"] for i in only] == [ids[1]]


# --------------------------------------------------------------------------- history, include


async def test_history_of_a_restaurant_run_says_who_completed_it(op: Api) -> None:
    eid = await submit_order(op, 1)
    task = await op.parked(eid)
    status = await ok(op.cp("GET", f"/executions/{eid}"))
    assert status["openInteractionIds"] == [task["interactionId"]]
    assert status["stepId"] == "ProcessAwaitRestaurantDecisionService"
    assert status["pipelineId"] == PIPELINE_ID
    await complete(op, task, actor="chef@example.com")
    done = await op.wait_status(eid)
    assert done["status"] == "SUCCEEDED" and done["openInteractionIds"] == []
    history = await ok(op.cp("GET", f"/executions/{eid}/history"))
    assert history["executionId"] == eid and history["dropped"] == 0
    kinds = [e["kind"] for e in history["entries"]]
    assert kinds == ["SUBMITTED", "PARKED", "RESUMED", "SUCCEEDED"]
    submitted, parked, resumed, succeeded = history["entries"]
    assert submitted["fromStatus"] is None and submitted["stepIndex"] == 0
    assert parked["toStatus"] == "WAITING_EXTERNAL"
    assert parked["interactionId"] == task["interactionId"]
    assert parked["stepId"] == "ProcessAwaitRestaurantDecisionService"
    assert parked["durationMs"] >= 0 and parked["coordinatorId"]
    assert resumed["completedBy"] == "chef@example.com"
    assert resumed["idempotencyKey"] and resumed["interactionId"] == task["interactionId"]
    assert succeeded["fromStatus"] == "RUNNING" and succeeded["toStatus"] == "SUCCEEDED"
    detail = await ok(op.cp("GET", f"/interactions/{task['interactionId']}"))
    assert detail["status"] == "COMPLETED" and detail["completedBy"] == "chef@example.com"
    assert detail["completedAtEpochMs"] > 0 and detail["idempotencyKey"]
    assert detail["responseSchema"] is not None


async def test_include_needs_the_admin_token(op: Api) -> None:
    eid = await submit_order(op, 1)
    task = await op.parked(eid)
    err = await error(op.cp("GET", f"/executions/{eid}?include=input,outputs"), 403)
    assert err["message"].startswith("include")
    err = await error(op.cp("GET", f"/executions/{eid}?include=secrets"), 400)
    assert err["message"].startswith("include")
    await complete(op, task)
    await op.wait_status(eid)
    # The admin token reads the control plane, and only it sees the input and outputs.
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    full = await ok(op.raw("GET", f"{CP}/executions/{eid}?include=input,outputs", headers=headers))
    assert full["status"] == "SUCCEEDED"
    assert full["input"]["payloadTypeId"].endswith("PlaceRestaurantOrderRequestDto")
    outputs = {o["stepIndex"]: o for o in full["outputs"]}
    # The validated order (kept for Finalize's ctx), the await's request, its answer, the result.
    assert sorted(outputs) == [0, 1, 2, 3]
    assert outputs[0]["payload"]["orderId"] == task["requestPayload"]["orderId"]
    assert outputs[2]["stepId"] == "ProcessAwaitRestaurantDecisionService"
    assert outputs[1]["payload"]["orderId"] == task["requestPayload"]["orderId"]
    assert outputs[3]["payload"]["outcome"] == "APPROVED"
    plain = await ok(op.raw("GET", f"{CP}/executions/{eid}", headers=headers))
    assert "input" not in plain and "outputs" not in plain


async def test_interaction_detail_has_the_response_schema(op: Api) -> None:
    eid = await submit_order(op, 1)
    task = await op.parked(eid)
    detail = await ok(op.cp("GET", f"/interactions/{task['interactionId']}"))
    assert detail["status"] in ("WAITING", "DISPATCHED")
    assert "completedBy" not in detail
    schema = detail["responseSchema"]
    assert isinstance(schema, dict) and ("$defs" in schema or "anyOf" in schema)
    await error(op.cp("GET", "/interactions/nope"), 404)


# --------------------------------------------------------------------------- cancel


async def test_cancel_a_parked_execution_closes_its_interaction(op: Api) -> None:
    eid = await submit_order(op, 1)
    task = await op.parked(eid)
    err = await error(
        op.admin("POST", f"{ADMIN}/executions/{eid}/cancel", json={"reason": " "}), 400
    )
    assert err["message"].startswith("reason")
    await error(op.admin("POST", f"{ADMIN}/executions/{eid}/cancel", json={}), 400)
    err = await error(
        op.admin(
            "POST", f"{ADMIN}/executions/{eid}/cancel", json={"reason": "r", "expectedVersion": 99}
        ),
        409,
    )
    status = await ok(
        op.admin("POST", f"{ADMIN}/executions/{eid}/cancel", json={"reason": "customer left"})
    )
    assert status["status"] == "FAILED" and status["errorCode"] == "CANCELLED"
    assert status["openInteractionIds"] == []
    body = {"interactionId": task["interactionId"], "responsePayload": accepted(task)}
    late = await error(op.cp("POST", "/interactions/complete", json=body), 409)
    assert late["code"] == "INTERACTION_CANCELLED"
    again = await error(
        op.admin("POST", f"{ADMIN}/executions/{eid}/cancel", json={"reason": "twice"}), 409
    )
    assert "FAILED" in again["message"]
    history = await ok(op.cp("GET", f"/executions/{eid}/history"))
    last = history["entries"][-1]
    assert last["kind"] == "CANCELLED" and last["reason"] == "customer left"
    detail = await ok(op.cp("GET", f"/interactions/{task['interactionId']}"))
    assert detail["status"] == "CANCELLED"
    found = await ok(op.cp("GET", "/executions?status=FAILED&errorCode=CANCELLED"))
    assert [i["executionId"] for i in found["items"]] == [eid]


async def test_cancel_a_running_execution_stops_its_transition(op: Api) -> None:
    eid = await submit_gated(op)
    status = await ok(op.cp("GET", f"/executions/{eid}"))
    assert status["status"] in ("QUEUED", "RUNNING")
    done = await ok(op.admin("POST", f"{ADMIN}/executions/{eid}/cancel", json={"reason": "stuck"}))
    assert done["status"] == "FAILED" and done["errorCode"] == "CANCELLED"
    gate.GATE.event.set()  # a transition still running would now go on and park
    await op.coordinator.run_until_idle()
    after = await ok(op.cp("GET", f"/executions/{eid}"))
    assert after["status"] == "FAILED" and after["version"] == done["version"]
    assert await ok(op.cp("GET", f"/interactions/pending?executionId={eid}")) == []


async def test_cancel_of_an_unknown_execution_is_404(op: Api) -> None:
    await error(op.admin("POST", f"{ADMIN}/executions/nope/cancel", json={"reason": "x"}), 404)


# --------------------------------------------------------------------------- bulk re-drive


async def test_bulk_redrive_dry_run_then_real(op: Api) -> None:
    ids = [await submit_order(op, n) for n in range(3)]
    for eid in ids:
        await op.parked(eid)
    for eid in ids[:2]:
        await ok(op.admin("POST", f"{ADMIN}/executions/{eid}/cancel", json={"reason": "test"}))
    url = f"{ADMIN}/executions/redrive"
    # Cancelled executions are only re-driven when asked for by their error code.
    plain = await ok(op.admin("POST", url, json={"status": "FAILED", "dryRun": True}))
    assert plain["matched"] == 2 and plain["redriven"] == []
    assert {s["executionId"] for s in plain["skipped"]} == set(ids[:2])
    body = {"status": "FAILED", "errorCode": "CANCELLED", "dryRun": True, "limit": 1}
    dry = await ok(op.admin("POST", url, json=body))
    # The newest match (the two cancels may share a millisecond: then the id breaks the tie).
    newest = (await ok(op.cp("GET", "/executions?errorCode=CANCELLED&limit=1")))["items"][0]
    assert dry == {"matched": 1, "redriven": [newest["executionId"]], "skipped": [], "dryRun": True}
    unchanged = await ok(op.cp("GET", f"/executions/{newest['executionId']}"))
    assert unchanged["status"] == "FAILED"
    real = await ok(
        op.admin("POST", url, json={**body, "dryRun": False, "limit": 10, "reason": "retry"})
    )
    assert real["matched"] == 2 and sorted(real["redriven"]) == sorted(ids[:2])
    for eid in ids[:2]:
        again = await op.wait_status(eid)
        assert again["status"] == "WAITING_EXTERNAL"
        kinds = [
            e["kind"] for e in (await ok(op.cp("GET", f"/executions/{eid}/history")))["entries"]
        ]
        assert kinds[-3:] == ["CANCELLED", "REDRIVEN", "PARKED"]
    assert (await ok(op.admin("POST", url, json={})))["matched"] == 0  # DLQ by default
    err = await error(op.admin("POST", url, json={"status": "RUNNING"}), 400)
    assert err["message"].startswith("status")
    err = await error(op.admin("POST", url, json={"limit": 5000}), 400)
    assert err["message"].startswith("limit")
    err = await error(op.admin("POST", url, json={"updatedBefore": "soon"}), 400)
    assert err["message"].startswith("updatedBefore")


async def test_pipelines_list_names_the_active_release(op: Api) -> None:
    listed = await ok(op.admin("GET", f"{ADMIN}/pipelines"))
    by_id = {p["pipelineId"]: p["activeReleaseVersion"] for p in listed}
    assert by_id[PIPELINE_ID] is not None
    assert by_id[gate.pipeline.pipeline_id] is not None
