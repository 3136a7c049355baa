"""The restaurant workload shared by the in-process benchmarks (engine and HA shapes)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from demos.restaurant_approval.pipeline import PIPELINE_ID, pipeline
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release

TENANT = "bench"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)


async def release_restaurant(coordinator: Coordinator, build_dir: Path) -> None:
    """Host the restaurant pipeline, release and activate it, register its worker."""
    worker = coordinator.host(pipeline)
    descriptor = build_release(pipeline, build_dir)
    release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
    await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
    await coordinator.register_local_worker(TENANT, worker, "bench-worker")


def order(i: int) -> dict[str, Any]:
    return {
        "requestId": f"{i}-{uuid.uuid4()}",
        "customerName": "Ada Lovelace",
        "restaurantName": "Cafe TPF",
        "items": "Margherita Pizza",
        "totalAmount": "27.50",
        "currency": "EUR",
    }


async def one_execution(coordinator: Coordinator, i: int) -> float:
    """Submit, wait for the park, complete at once, wait for the result.

    Returns the milliseconds from sending the completion to seeing the result.
    """
    request = order(i)
    submitted = await coordinator.submit(
        TENANT, PIPELINE_ID, request, idempotency_key=request["requestId"]
    )
    eid = submitted.execution_id
    parked = await coordinator.wait_for(
        TENANT, eid, (ExecutionStatus.WAITING_EXTERNAL, *TERMINAL), timeout_s=60
    )
    assert parked.await_interaction_id is not None, parked
    # The restaurant answers for the order it was asked about (Finalize checks it).
    task = await coordinator.interaction(TENANT, parked.await_interaction_id)
    start = time.perf_counter()
    await coordinator.complete(
        TENANT,
        interaction_id=parked.await_interaction_id,
        response={"accepted": {"orderId": task.request_payload["orderId"]}},
    )
    done = await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=60)
    assert done.status is ExecutionStatus.SUCCEEDED, done
    return (time.perf_counter() - start) * 1000


async def run_executions(coordinator: Coordinator, n: int, concurrency: int) -> list[float]:
    """:func:`one_execution` ``n`` times, ``concurrency`` at once; their latencies (ms)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> float:
        async with gate:
            return await one_execution(coordinator, i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))
