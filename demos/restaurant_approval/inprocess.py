"""The restaurant approval flow driven from Python, in one process (no REST edge).

``make demo`` runs the same flow over REST (:mod:`demos.restaurant_approval.demo`); this variant
shows the coordinator's Python API.

It does what an operator and two restaurants would: build the release, register and activate it,
register the in-process worker, submit an order that the restaurant accepts and one it
declines, complete both awaits, and check the outcomes (``APPROVED`` and ``DECLINED``). Every
step the pipeline runs is printed. State lives under ``TPF_STATE_DIR`` (default ``.tpf/``), so
the executions are still there after the demo exits.

Run: ``python -m demos.restaurant_approval.inprocess`` (exit status 0 when both outcomes are right).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

from demos.restaurant_approval.pipeline import AWAIT_STEP_ID, PIPELINE_ID, pipeline
from tpf.config import load_settings
from tpf.coordinator import Coordinator
from tpf.records import ExecutionStatus
from tpf.releases import build_release
from tpf.transports.local_worker import StepEvent

TENANT = "restaurant-demo"
WORKER_ID = "restaurant-local-worker"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)


def show_step(event: StepEvent) -> None:
    what = "parked, waiting for the restaurant" if event.kind == "await" else "done"
    print(f"  [{event.execution_id[:8]}] step {event.step_index} {event.step_name}: {what}")


def order(customer: str, restaurant: str, items: str, amount: str) -> dict[str, Any]:
    return {
        "requestId": str(uuid.uuid4()),
        "customerName": customer,
        "restaurantName": restaurant,
        "items": items,
        "totalAmount": amount,
        "currency": "EUR",
    }


async def run_flow(
    coordinator: Coordinator, label: str, request: dict[str, Any], decision: str
) -> str:
    print(f"\n== {label}: {request['customerName']} at {request['restaurantName']}")
    submitted = await coordinator.submit(
        TENANT, PIPELINE_ID, request, idempotency_key=f"order-{uuid.uuid4()}"
    )
    eid = submitted.execution_id
    print(f"  submitted execution {eid}")
    parked = await coordinator.wait_for(
        TENANT, eid, (ExecutionStatus.WAITING_EXTERNAL, *TERMINAL), timeout_s=30
    )
    if parked.status is not ExecutionStatus.WAITING_EXTERNAL:
        raise SystemExit(f"expected the execution to park, it is {parked.status}")
    pending = await coordinator.pending(TENANT, step_id=AWAIT_STEP_ID)
    interaction = next(p for p in pending if p.execution_id == eid)
    order_id = interaction.request_payload["orderId"]
    print(f"  pending interaction {interaction.interaction_id} for order {order_id}")
    body = {"orderId": order_id, "decidedAt": "2026-11-27T12:00:00Z"}
    if decision == "accepted":
        body["note"] = "See you at seven"
    else:
        body["declineReason"] = "Kitchen is closed tonight"
    await coordinator.complete(
        TENANT,
        interaction_id=interaction.interaction_id,
        response={decision: body},
        actor="restaurant-demo",
    )
    print(f"  restaurant {decision} the order")
    final = await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=30)
    outcome = (final.result_payload or {}).get("outcome")
    print(f"  execution {final.status}: outcome={outcome}")
    print(f"  summary: {(final.result_payload or {}).get('summary')}")
    return str(outcome)


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    print(f"tpf restaurant demo: state in {settings.state.dir}/ ({settings.state.provider})")
    coordinator = await Coordinator.open(settings)
    try:
        await coordinator.start()
        worker = coordinator.host(pipeline, observer=show_step)
        # A stable build directory keeps the descriptor identical across runs, so registering
        # it again is idempotent rather than a conflicting re-registration.
        descriptor = build_release(pipeline, Path(settings.state.dir) / "build")
        release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
        await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
        print(f"release {release.release_version} active for tenant {TENANT}")
        await coordinator.register_local_worker(TENANT, worker, WORKER_ID)
        approved = await run_flow(
            coordinator,
            "Accepted order",
            order("Ada Lovelace", "Cafe TPF", "Margherita Pizza, Sparkling Water", "27.50"),
            "accepted",
        )
        declined = await run_flow(
            coordinator,
            "Declined order",
            order("Grace Hopper", "Bistro Queue", "Ramen, Green Tea", "18.90"),
            "declined",
        )
    finally:
        await coordinator.close()
    ok = approved == "APPROVED" and declined == "DECLINED"
    print(f"\nresults: accepted order -> {approved}, declined order -> {declined}")
    print("demo passed" if ok else "demo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
