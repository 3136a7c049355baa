"""Server-derived idempotency keys over HTTP (issue 8, break 4): a submit without a key is
deduplicated against the same pipeline, shape and payload only, so another pipeline or shape is
a new execution, never a 409 naming a key the client never sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from demos.restaurant_approval.pipeline import PIPELINE_ID
from tests.http import gate
from tests.http.conftest import ORDER, Api, ApiFactory, ok
from tpf.core.records import IdempotencyPolicy

# Fits both pipelines' first step: the restaurant order and the gate's ticket (extra fields are
# ignored by both), so only pipelineId and inputShape tell the submits apart.
PAYLOAD = {**ORDER, "ticketId": "t-1"}


async def submit(api: Api, pipeline_id: str, shape: str, **extra: Any) -> dict[str, Any]:
    body = {"pipelineId": pipeline_id, "inputShape": shape, "inputPayload": PAYLOAD, **extra}
    accepted: dict[str, Any] = await ok(api.cp("POST", "/executions", json=body))
    return accepted


@pytest.mark.parametrize(
    "policy", [IdempotencyPolicy.OPTIONAL_CLIENT_KEY, IdempotencyPolicy.SERVER_KEY_ONLY]
)
async def test_a_derived_key_covers_pipeline_shape_and_payload(
    make_api: ApiFactory, policy: IdempotencyPolicy
) -> None:
    gate.GATE.event = asyncio.Event()
    api = await make_api(host=(gate.pipeline,), execution__idempotency_policy=policy)
    await api.release()
    await api.release(gate.pipeline)
    try:
        first = await submit(api, gate.pipeline.pipeline_id, "UNI")
        other_pipeline = await submit(api, PIPELINE_ID, "UNI")
        other_shape = await submit(api, gate.pipeline.pipeline_id, "RAW")
        again = await submit(api, gate.pipeline.pipeline_id, "UNI")
    finally:
        gate.GATE.event.set()  # a held step finishes before the coordinator closes
    ids = [s["executionId"] for s in (first, other_pipeline, other_shape)]
    assert len(set(ids)) == 3
    assert [s["duplicate"] for s in (first, other_pipeline, other_shape)] == [False] * 3
    # The same pipeline, shape and payload is still the same execution.
    assert again["duplicate"] is True and again["executionId"] == first["executionId"]
