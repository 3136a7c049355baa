"""Control-plane routes over HTTP (spec §2.1): success shapes and every error of its tables."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.http import gate
from tests.http.conftest import (
    AWAIT_STEP,
    CP,
    ORDER,
    PIPELINE_ID,
    TENANT,
    WORKERS,
    Api,
    ApiFactory,
    decision_envelope,
    envelope,
    error,
    ok,
    order_envelope,
    submit_gated,
)
from tpf.core.clock import FakeClock
from tpf.core.records import IdempotencyPolicy

STATUS_FIELDS = {
    "executionId",
    "status",
    "stepIndex",
    "attempt",
    "version",
    "nextDueEpochMs",
    "updatedAtEpochMs",
    "errorCode",
    "errorMessage",
    "errorDetail",
    "pipelineId",
    "releaseVersion",
    "stepId",
    "openInteractionIds",
}
HELD = ("QUEUED", "RUNNING")  # a gated execution before or inside its held step
INTERACTION_FIELDS = {
    "interactionId",
    "correlationId",
    "executionId",
    "stepId",
    "stepIndex",
    "outputType",
    "status",
    "requestPayload",
    "assignee",
    "group",
    "transportType",
    "transportMetadata",
    "deadlineEpochMs",
    "createdAtEpochMs",
    "updatedAtEpochMs",
}


def submit_body(**extra: Any) -> dict[str, Any]:
    return {
        "pipelineId": PIPELINE_ID,
        "inputShape": "UNI",
        "inputPayload": order_envelope(),
        **extra,
    }


def accepted(order_id: str) -> dict[str, Any]:
    return decision_envelope("accepted", {"orderId": order_id, "decidedAt": "2026-01-01T00:00:00Z"})


# --------------------------------------------------------------------------- submit


async def test_submit_answers_the_accepted_shape_with_a_control_plane_status_url(
    released: Api,
) -> None:
    body = await ok(released.cp("POST", "/executions", json=submit_body(idempotencyKey="k-1")))
    assert set(body) == {"executionId", "duplicate", "statusUrl", "submittedAtEpochMs"}
    assert body["duplicate"] is False
    assert body["statusUrl"] == f"{CP}/executions/{body['executionId']}"
    status = await ok(released.raw("GET", body["statusUrl"], headers=_cp_auth()))
    assert status["executionId"] == body["executionId"]


def _cp_auth() -> dict[str, str]:
    return {"Authorization": "Bearer cp-token"}


async def test_duplicate_submit_returns_the_first_execution(released: Api) -> None:
    first = await ok(released.cp("POST", "/executions", json=submit_body(idempotencyKey="k-2")))
    again = await ok(released.cp("POST", "/executions", json=submit_body(idempotencyKey="k-2")))
    assert again["executionId"] == first["executionId"] and again["duplicate"] is True


async def test_idempotency_key_reused_with_another_payload_is_409(released: Api) -> None:
    await ok(released.cp("POST", "/executions", json=submit_body(idempotencyKey="k-3")))
    other = submit_body(
        idempotencyKey="k-3", inputPayload=order_envelope({**ORDER, "items": "Tea"})
    )
    err = await error(released.cp("POST", "/executions", json=other), 409)
    assert err["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_idempotency_key_header_is_used_when_the_body_has_none(
    make_api: ApiFactory,
) -> None:
    api = await make_api(execution__idempotency_policy=IdempotencyPolicy.CLIENT_KEY_REQUIRED)
    await api.release()
    err = await error(api.cp("POST", "/executions", json=submit_body()), 400)
    assert err["code"] == "IDEMPOTENCY_KEY_REQUIRED"  # the original answers 500 here
    headers = {"Idempotency-Key": "header-key"}
    first = await ok(api.cp("POST", "/executions", json=submit_body(), headers=headers))
    again = await ok(api.cp("POST", "/executions", json=submit_body(), headers=headers))
    assert again == {**first, "duplicate": True}


async def test_submit_validation_errors_name_the_field(released: Api) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"inputShape": "UNI", "inputPayload": order_envelope()}, "pipelineId is required"),
        ({"pipelineId": PIPELINE_ID, "inputPayload": {}}, "inputShape is required"),
        ({"pipelineId": PIPELINE_ID, "inputShape": "UNI"}, "inputPayload is required"),
        (submit_body(pipelineId="  "), "pipelineId is required"),
        (submit_body(inputShape="BOTH"), "inputShape: Invalid enum value 'BOTH'"),
        (submit_body(inputPayload="text"), "inputPayload: Expected object, got str"),
        (submit_body(inputPayload=None), "inputPayload: Expected object, got null"),
        (submit_body(outputStreaming=True), "outputStreaming: true is not supported"),
        (submit_body(idempotencyKey=7), "idempotencyKey: Expected str | null, got int"),
        (submit_body(extra=1), "extra: unknown field"),
        (
            submit_body(inputPayload=envelope(None, "{not json")),
            "inputPayload.payload: invalid JSON text",
        ),
        (
            submit_body(inputPayload=envelope(None, json.dumps({"customerName": "x"}))),
            "inputPayload: step 0 'Validate Order Request': input does not match",
        ),
    ]
    for body, message in cases:
        err = await error(released.cp("POST", "/executions", json=body), 400)
        assert err["message"].startswith(message), (body, err)


async def test_submit_without_an_active_release_is_409(api: Api) -> None:
    err = await error(api.cp("POST", "/executions", json=submit_body()), 409)
    assert err["message"] == "No active release is registered for the requested pipeline"


async def test_submit_for_an_unknown_tenant_is_4xx(released: Api) -> None:
    path = "/tpf/control-plane/tenants/nobody/executions"
    err = await error(released.raw("POST", path, json=submit_body(), headers=_cp_auth()), 409)
    assert "No active release" in err["message"]


async def test_submit_without_a_healthy_worker_is_503(released: Api) -> None:
    # The hand-registered worker and the one the coordinator keeps for the code it hosts.
    for worker in await ok(released.admin("GET", WORKERS)):
        await ok(released.admin("POST", f"{WORKERS}/{worker['workerId']}/drain"))
    err = await error(released.cp("POST", "/executions", json=submit_body()), 503)
    assert "restaurant-local-worker=DRAINING" in err["message"]
    assert "register it again (DRAINING)" in err["message"]  # says what to do


# --------------------------------------------------------------------------- status & result


async def test_status_and_result_shapes_through_success(released: Api) -> None:
    eid = await released.submit()
    task = await released.parked(eid)
    status = await ok(released.cp("GET", f"/executions/{eid}"))
    assert set(status) == STATUS_FIELDS
    assert status["stepIndex"] == 2 and status["nextDueEpochMs"] == 9_223_372_036_854_775_807
    parked = await ok(released.cp("GET", f"/executions/{eid}/result"))
    assert parked == {"status": status, "resultPayload": None}
    body = {"interactionId": task["interactionId"], "responsePayload": accepted(_order(task))}
    await ok(released.cp("POST", "/interactions/complete", json=body))
    # The long poll right after a completion waits for the resumed transition, not the park.
    done = await ok(released.cp("GET", f"/executions/{eid}/result?waitMs=5000"))
    assert done["status"]["status"] == "SUCCEEDED"
    payload = done["resultPayload"]
    assert payload["payloadTypeId"].endswith(".TerminalOrderState")
    assert payload["payloadEncoding"] == "application/tpf-transition+json"
    assert json.loads(payload["payload"])["outcome"] == "APPROVED"


def _order(task: dict[str, Any]) -> str:
    order_id: str = task["requestPayload"]["orderId"]
    return order_id


async def test_unknown_execution_is_404_and_tenants_are_isolated(released: Api) -> None:
    err = await error(released.cp("GET", "/executions/no-such-id"), 404)
    assert err == {"code": "NOT_FOUND", "message": "Execution not found: no-such-id"}
    await error(released.cp("GET", "/executions/no-such-id/result"), 404)
    eid = await released.submit()
    other = f"/tpf/control-plane/tenants/other/executions/{eid}"
    await error(released.raw("GET", other, headers=_cp_auth()), 404)
    await error(
        released.raw("GET", f"/tpf/control-plane/tenants/%20/executions/{eid}", headers=_cp_auth()),
        400,
    )


async def test_bad_wait_ms_is_400(released: Api) -> None:
    eid = await released.submit()
    for bad in ("soon", "-1", "1.5", "99999999999999999999"):
        err = await error(released.cp("GET", f"/executions/{eid}?waitMs={bad}"), 400)
        assert err["message"].startswith("waitMs:"), err


async def test_long_poll_returns_as_soon_as_the_execution_parks(gated: Api) -> None:
    eid = await submit_gated(gated)
    poll = asyncio.create_task(gated.wait_status(eid, wait_ms=20_000))
    running = await ok(gated.cp("GET", f"/executions/{eid}"))
    assert running["status"] in HELD and not poll.done()
    gate.GATE.event.set()
    parked = await asyncio.wait_for(poll, timeout=5)  # far sooner than the 20 s asked for
    assert parked["status"] == "WAITING_EXTERNAL"


async def test_long_poll_answers_after_wait_ms_with_the_current_state(gated: Api) -> None:
    eid = await submit_gated(gated)
    started = time.monotonic()
    status = await gated.wait_status(eid, wait_ms=100)
    assert status["status"] in HELD and time.monotonic() - started >= 0.09


async def test_wait_ms_is_capped(make_api: ApiFactory) -> None:
    gate.GATE.event = asyncio.Event()
    api = await make_api(host=(gate.pipeline,), http__max_wait_ms=100)
    await api.release(gate.pipeline)
    eid = await submit_gated(api)
    try:
        capped = await asyncio.wait_for(api.wait_status(eid, wait_ms=600_000), timeout=5)
        assert capped["status"] in HELD
    finally:
        gate.GATE.event.set()


# The default long poll waits in wait_settled; ?until=terminal (test_long_poll_until.py) in
# wait_for: a shutdown answers both.
@pytest.mark.parametrize(
    ("query", "waits_in"),
    [("waitMs=25000", "wait_settled"), ("waitMs=25000&until=terminal", "wait_for")],
    ids=["settled", "until-terminal"],
)
async def test_shutdown_answers_open_long_polls(
    gated: Api, monkeypatch: pytest.MonkeyPatch, query: str, waits_in: str
) -> None:
    entered = asyncio.Event()
    waiting = getattr(gated.coordinator, waits_in)

    async def spy(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        return await waiting(*args, **kwargs)

    monkeypatch.setattr(gated.coordinator, waits_in, spy)
    eid = await submit_gated(gated)
    poll = asyncio.create_task(ok(gated.cp("GET", f"/executions/{eid}?{query}")))
    await asyncio.wait_for(entered.wait(), timeout=5)  # the handler is waiting now
    await gated.client.server.close()
    assert (await asyncio.wait_for(poll, timeout=5))["status"] in HELD


# --------------------------------------------------------------------------- pending


async def test_pending_lists_open_interactions_with_filters_and_limits(released: Api) -> None:
    ids = [await released.submit({**ORDER, "requestId": f"r-{i}"}) for i in range(3)]
    tasks = [await released.parked(eid) for eid in ids]
    assert set(tasks[0]) == INTERACTION_FIELDS  # no resumeToken without a secret
    assert tasks[0]["stepId"] == AWAIT_STEP and tasks[0]["status"] == "DISPATCHED"
    assert tasks[0]["requestPayload"]["customerName"] == "Ada Lovelace"  # plain JSON
    assert tasks[0]["transportMetadata"]["adapter"] == "interaction-api"
    every = await ok(released.cp("GET", "/interactions/pending"))
    deadlines = [p["deadlineEpochMs"] for p in every]
    assert len(every) == 3 and deadlines == sorted(deadlines)
    assert len(await ok(released.cp("GET", "/interactions/pending?limit=2"))) == 2
    assert len(await ok(released.cp("GET", "/interactions/pending?limit=0"))) == 1  # clamped
    assert len(await ok(released.cp("GET", "/interactions/pending?limit=5000"))) == 3
    for query in ("assignee=nobody", "group=nobody", "stepId=other"):
        assert await ok(released.cp("GET", f"/interactions/pending?{query}")) == []
    err = await error(released.cp("GET", "/interactions/pending?limit=ten"), 400)
    assert err["message"] == "limit: must be an integer, got 'ten'"


# --------------------------------------------------------------------------- complete


async def test_complete_by_correlation_id_then_duplicate(released: Api) -> None:
    eid = await released.submit()
    task = await released.parked(eid)
    body = {
        "correlationId": task["correlationId"],
        "idempotencyKey": f"complete-{task['interactionId']}",
        "responsePayload": accepted(_order(task)),
        "actor": "restaurant",
    }
    done = await ok(released.cp("POST", "/interactions/complete", json=body))
    assert done == {
        "interactionId": task["interactionId"],
        "executionId": eid,
        "stepId": AWAIT_STEP,
        "status": "COMPLETED",
        "duplicate": False,
    }
    again = await ok(released.cp("POST", "/interactions/complete", json=body))
    assert again == {**done, "duplicate": True}


async def test_complete_errors(released: Api) -> None:
    eid = await released.submit()
    task = await released.parked(eid)
    payload = accepted(_order(task))
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"responsePayload": payload}, 400, "interactionId, correlationId, or resumeToken is"),
        ({"interactionId": " ", "responsePayload": payload}, 400, "interactionId, correlationId"),
        ({"interactionId": task["interactionId"]}, 400, "responsePayload is required"),
        ({"interactionId": "nope", "responsePayload": payload}, 404, "Await interaction not found"),
        ({"correlationId": "nope", "responsePayload": payload}, 404, "Await interaction not found"),
        (
            {"interactionId": task["interactionId"], "responsePayload": envelope(None, "{")},
            400,
            "responsePayload.payload: invalid JSON text",
        ),
        (
            {"interactionId": task["interactionId"], "responsePayload": {"accepted": "yes"}},
            400,
            "responsePayload.accepted: expected `object | null`, got `str`",
        ),
        (
            {"interactionId": task["interactionId"], "responsePayload": "yes"},
            400,
            "responsePayload: Expected object | null, got str",
        ),
        (
            {
                "interactionId": task["interactionId"],
                "responsePayload": payload,
                "resumeToken": "t",
            },
            400,
            "resumeToken: resume tokens need pipeline.orchestrator.resume-token-secret",
        ),
    ]
    for body, status, message in cases:
        err = await error(released.cp("POST", "/interactions/complete", json=body), status)
        assert err["message"].startswith(message), (body, err)
    # None of the rejected completions touched the interaction.
    assert (await released.parked(eid))["status"] == "DISPATCHED"


async def test_completing_after_the_deadline_times_out_and_fails_the_execution(
    make_api: ApiFactory,
) -> None:
    clock = FakeClock()
    api = await make_api(clock=clock)
    await api.release()
    eid = await api.submit()
    task = await api.parked(eid)
    clock.advance(31 * 60 * 1000)  # past the await's PT30M deadline
    body = {"interactionId": task["interactionId"], "responsePayload": accepted(_order(task))}
    err = await error(api.cp("POST", "/interactions/complete", json=body), 400)
    assert err["code"] == "INTERACTION_CLOSED"
    failed = await ok(api.cp("GET", f"/executions/{eid}?waitMs=5000"))
    assert failed["status"] == "FAILED" and failed["errorCode"] == "AWAIT_TIMEOUT"
    # A terminal interaction stays closed.
    again = await error(api.cp("POST", "/interactions/complete", json=body), 400)
    assert again["code"] == "INTERACTION_CLOSED" and "TIMED_OUT" in again["message"]
    assert TENANT in CP
