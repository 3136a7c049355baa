"""The restaurant demo's REST flows, speaking the original's JSON (payload envelopes and all).

Shared by ``make demo``, the incident demo and the recovery demo: release and worker set-up,
submitting an order, waiting with long polls (no polling loops on the client), finding the
pending interaction and completing it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from demos.restaurant_approval.decisions import Decision, decision_payload
from demos.restaurant_approval.pipeline import AWAIT_STEP_ID, PIPELINE_ID
from demos.restaurant_approval.server import PIPELINE_REF, ROOT, tpf_command
from tpf.client import RestClient
from tpf.codec import encode_payload

ORDER_TYPE = "org.pipelineframework.restaurantapproval.common.dto.PlaceRestaurantOrderRequestDto"
TERMINAL = {"SUCCEEDED", "FAILED", "DLQ"}
WORKER_ID = "restaurant-local-worker"
DECIDED_AT = "2026-11-27T19:00:00Z"  # a fixed time: the demos' traces stay comparable


def say(text: str) -> None:
    print(text, flush=True)


def envelope(value: Any, type_id: str) -> dict[str, Any]:
    return {
        "payloadTypeId": type_id,
        "payloadEncoding": "application/tpf-transition+json",
        "payload": json.dumps(value),
    }


def prepare_release(
    client: RestClient,
    build_dir: Path,
    *,
    pipeline_ref: str = PIPELINE_REF,
    pipeline_id: str = PIPELINE_ID,
    worker_id: str = WORKER_ID,
) -> dict[str, Any]:
    """Build the release with ``tpf release build``, register, activate, register the worker
    (the restaurant pipeline unless told another, e.g. the plain benchmark's)."""
    active = activate_release(client, build_dir, pipeline_ref=pipeline_ref, pipeline_id=pipeline_id)
    worker = client.register_worker(
        pipeline_id,
        workerId=worker_id,
        contractVersion=active["contractVersion"],
        releaseVersion=active["releaseVersion"],
        protocol="local",
        endpoint="in-process",
        artifactId=active["primaryArtifactId"],
        artifactDigest=active["primaryArtifactDigest"],
    )
    say(f"worker {worker['workerId']} {worker['state']}")
    return active


def activate_release(
    client: RestClient,
    build_dir: Path,
    *,
    pipeline_ref: str = PIPELINE_REF,
    pipeline_id: str = PIPELINE_ID,
) -> dict[str, Any]:
    """Build the release with ``tpf release build``, register and activate it (a remote worker
    then registers itself for it)."""
    built = subprocess.run(
        tpf_command("release", "build", "--pipeline", pipeline_ref, "--output", str(build_dir)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    descriptor = built.stdout.strip()
    release = client.register_release(pipeline_id, descriptor)
    active = client.activate_release(pipeline_id, release["releaseVersion"])
    say(f"release {active['releaseVersion']} {active['status']} for tenant {client.tenant}")
    return dict(active)


def submit_order(client: RestClient, customer: str, restaurant: str, items: str) -> str:
    order = {
        "requestId": str(uuid.uuid4()),
        "customerName": customer,
        "restaurantName": restaurant,
        "items": items,
        "totalAmount": "27.50",
        "currency": "EUR",
    }
    answer = client.submit(
        PIPELINE_ID, envelope(order, ORDER_TYPE), idempotency_key=f"order-{uuid.uuid4()}"
    )
    say(f"  submitted {customer} at {restaurant}: execution {answer['executionId']}")
    return str(answer["executionId"])


def wait_for(
    client: RestClient, execution_id: str, wanted: set[str], timeout_s: float = 60.0
) -> dict[str, Any]:
    """Long-poll the status until it is one of ``wanted`` (or terminal)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = client.status(execution_id, wait_ms=5_000)
        if status["status"] in wanted or status["status"] in TERMINAL:
            return status
        if time.monotonic() > deadline:
            raise SystemExit(f"execution {execution_id} stuck in {status['status']}")


def pending_for(client: RestClient, execution_id: str) -> dict[str, Any]:
    for interaction in client.pending(step_id=AWAIT_STEP_ID, limit=1000):
        if interaction["executionId"] == execution_id:
            assert interaction["stepId"] == AWAIT_STEP_ID
            return dict(interaction)
    raise SystemExit(f"no pending interaction for execution {execution_id}")


def complete(
    client: RestClient, interaction: dict[str, Any], decision: str, order_id: str | None = None
) -> dict[str, Any]:
    """Complete with the original's ``java.util.Map`` envelope of ``{decision: {...}}``."""
    chosen: Decision = "accepted" if decision == "accepted" else "declined"
    payload = decision_payload(
        order_id or interaction["requestPayload"]["orderId"], chosen, DECIDED_AT
    )
    answer: dict[str, Any] = client.complete(
        _envelope_dict(payload),
        interaction_id=interaction["interactionId"],
        actor="restaurant-self-host-demo",
    )
    say(f"  restaurant {decision} order {payload[chosen]['orderId']}")
    return answer


def _envelope_dict(value: Any) -> dict[str, Any]:
    env = encode_payload(value, "java.util.Map")
    return {
        "payloadTypeId": env.payload_type_id,
        "payloadEncoding": env.payload_encoding,
        "payload": env.payload,
    }


def outcome(client: RestClient, execution_id: str) -> str:
    result = client.result(execution_id)
    payload = result.get("resultPayload")
    if not payload:
        return str(result["status"]["status"])
    return str(json.loads(payload["payload"])["outcome"])
