"""The REST benchmark's load generator, run as its own process (``python -m bench.rest_client``).

Phase 1: submit N restaurant orders with C requests in flight. Phase 2: long-poll each status
until it is parked. Phase 3: a closed loop of C workers, each completing one await and waiting
(long poll) for its result, then the next. Prints one JSON line of timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

TENANT = "restaurant-demo"
PIPELINE_ID = "org.pipelineframework.restaurantapproval"
ORDER_TYPE = "org.pipelineframework.restaurantapproval.common.dto.PlaceRestaurantOrderRequestDto"
CP = f"/tpf/control-plane/tenants/{TENANT}"


Call = Callable[..., Awaitable[Any]]


@contextlib.asynccontextmanager
async def api(base_url: str, token: str, concurrency: int) -> AsyncIterator[Call]:
    """``call(method, path, body=None)`` on one keep-alive session sized for ``concurrency``:
    the decoded JSON answer, or RuntimeError naming the call unless it is 200."""
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency + 4)
    async with aiohttp.ClientSession(base_url, headers=headers, connector=connector) as http:

        async def call(method: str, path: str, body: Any = None) -> Any:
            async with http.request(method, path, json=body) as response:
                data = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"{method} {path}: {response.status} {data}")
                return data

        yield call


async def run(base_url: str, token: str, n: int, concurrency: int) -> dict[str, Any]:
    async with api(base_url, token, concurrency) as call:
        ids: list[str] = []
        gate = asyncio.Semaphore(concurrency)

        async def submit(i: int) -> None:
            order = {
                "requestId": f"bench-{i}-{uuid.uuid4()}",
                "customerName": "Ada Lovelace",
                "restaurantName": "Cafe TPF",
                "items": "Margherita Pizza",
                "totalAmount": "27.50",
                "currency": "EUR",
            }
            body = {
                "pipelineId": PIPELINE_ID,
                "inputShape": "UNI",
                "inputPayload": {
                    "payloadTypeId": ORDER_TYPE,
                    "payloadEncoding": "application/tpf-transition+json",
                    "payload": json.dumps(order),
                },
                "idempotencyKey": f"order-{uuid.uuid4()}",
            }
            async with gate:
                ids.append((await call("POST", f"{CP}/executions", body))["executionId"])

        t0 = time.perf_counter()
        await asyncio.gather(*(submit(i) for i in range(n)))
        submit_s = time.perf_counter() - t0

        interactions: dict[str, str] = {}
        order_ids: dict[str, str] = {}  # the restaurant answers for the order it was asked about

        async def parked(eid: str) -> None:
            async with gate:
                while True:
                    status = await call("GET", f"{CP}/executions/{eid}?waitMs=10000")
                    if status["status"] == "WAITING_EXTERNAL":
                        break
            interactions[eid] = ""

        t1 = time.perf_counter()
        await asyncio.gather(*(parked(eid) for eid in ids))
        park_wait_s = time.perf_counter() - t1

        async def refresh() -> None:
            # Pending lists are capped at 1000; completed ones drop out, so later pages appear.
            for p in await call("GET", f"{CP}/interactions/pending?limit=1000"):
                interactions[p["executionId"]] = p["interactionId"]
                order_ids[p["executionId"]] = p["requestPayload"]["orderId"]

        await refresh()

        queue: asyncio.Queue[str] = asyncio.Queue()
        for eid in ids:
            queue.put_nowait(eid)
        latencies: list[float] = []

        async def closed_loop() -> None:
            while not queue.empty():
                eid = queue.get_nowait()
                if not interactions.get(eid):
                    await refresh()
                interaction_id = interactions[eid]
                body = {
                    "interactionId": interaction_id,
                    "responsePayload": {"accepted": {"orderId": order_ids[eid]}},
                }
                start = time.perf_counter()
                await call("POST", f"{CP}/interactions/complete", body)
                while True:
                    result = await call("GET", f"{CP}/executions/{eid}/result?waitMs=10000")
                    if result["status"]["status"] in ("SUCCEEDED", "FAILED"):
                        break
                latencies.append((time.perf_counter() - start) * 1000)
                if result["status"]["status"] != "SUCCEEDED":
                    raise RuntimeError(f"{eid} ended {result['status']}")

        t2 = time.perf_counter()
        await asyncio.gather(*(closed_loop() for _ in range(concurrency)))
        complete_s = time.perf_counter() - t2
    lat = sorted(latencies)
    return {
        "n": n,
        "concurrency": concurrency,
        "submit_s": submit_s,
        "park_wait_s": park_wait_s,
        "complete_s": complete_s,
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def main() -> None:
    base_url, token, n, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(run(base_url, token, n, concurrency))), flush=True)


if __name__ == "__main__":
    main()
