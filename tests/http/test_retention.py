"""Retention over REST: an execution parked past ``execution-ttl-days`` is still read, listed and
completed; a completion whose execution is gone is a 404 naming it, never a 200."""

from __future__ import annotations

from typing import Any

from tests import long_approval
from tests.http.conftest import ApiFactory, decision_envelope, error, ok
from tpf.core.clock import FakeClock

DAY_MS = 86_400_000


def accepted(order_id: str) -> dict[str, Any]:
    return decision_envelope("accepted", {"orderId": order_id, "decidedAt": "2026-01-01T00:00:00Z"})


async def test_an_execution_parked_past_the_ttl_completes(make_api: ApiFactory) -> None:
    clock = FakeClock()
    api = await make_api(clock=clock, host=(long_approval.pipeline,))
    await api.release(long_approval.pipeline)
    body = {
        "pipelineId": long_approval.PIPELINE_ID,
        "inputShape": "UNI",
        "inputPayload": {"value": "v1"},
    }
    eid = (await ok(api.cp("POST", "/executions", json=body)))["executionId"]
    assert (await api.wait_status(eid))["status"] == "WAITING_EXTERNAL"
    clock.advance(api.coordinator.settings.execution.ttl_ms + DAY_MS)  # day 8 of 14

    assert (await ok(api.cp("GET", f"/executions/{eid}")))["status"] == "WAITING_EXTERNAL"
    pending = await ok(api.cp("GET", f"/interactions/pending?stepId={long_approval.STEP_ID}"))
    [task] = [p for p in pending if p["executionId"] == eid]
    answer = {"interactionId": task["interactionId"], "responsePayload": {"approved": True}}
    done = await ok(api.cp("POST", "/interactions/complete", json=answer))
    assert (done["status"], done["duplicate"]) == ("COMPLETED", False)
    result = await ok(api.cp("GET", f"/executions/{eid}/result?waitMs=5000"))
    assert result["status"]["status"] == "SUCCEEDED", result


async def test_completing_for_an_expired_execution_is_404_naming_it(make_api: ApiFactory) -> None:
    clock = FakeClock()
    api = await make_api(clock=clock)
    await api.release()
    eid = await api.submit()
    task = await api.parked(eid)
    answer = {
        "interactionId": task["interactionId"],
        "responsePayload": accepted(task["requestPayload"]["orderId"]),
    }
    await ok(api.cp("POST", "/interactions/complete", json=answer))
    result = await ok(api.cp("GET", f"/executions/{eid}/result?waitMs=5000"))
    assert result["status"]["status"] == "SUCCEEDED"
    clock.advance(api.coordinator.settings.execution.ttl_ms)  # retained that long after it ended
    await error(api.cp("GET", f"/executions/{eid}"), 404)

    err = await error(api.cp("POST", "/interactions/complete", json=answer), 404)
    assert err["code"] == "EXECUTION_NOT_FOUND"
    assert eid in err["message"]
