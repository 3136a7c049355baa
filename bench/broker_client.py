"""The broker benchmark's load generator and restaurant, in one process of their own
(``python -m bench.broker_client LANE_JSON BASE_URL TOKEN N CONCURRENCY``).

The restaurant is the demo's responder (:mod:`demos.restaurant_approval.responder`, the same
decode/decide/encode functions) run in this process, so it can note when each completion was
published; C closed-loop workers each submit an order over REST and long-poll its result, then
the next. Latency is *completion published -> result seen*. A first execution probes the round
trip: if its result does not come within ``BENCH_BROKER_PROBE_S`` the run stops and reports the
lane as not wired. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from bench.rest_client import CP, ORDER_TYPE, PIPELINE_ID
from demos.restaurant_approval.responder import (
    Dispatch,
    KafkaResponder,
    SqsResponder,
    kafka_clients,
    sqs_client,
)
from tpf.core.clock import SystemClock

SQS_POLLERS = 4  # one receive takes at most 10 messages; several keep up with 32 in flight


@contextlib.asynccontextmanager
async def responders(lane: dict[str, Any], hook: Any) -> AsyncIterator[None]:
    """The restaurant answering ``lane`` in the background until the block ends."""
    values, stop = lane["values"], asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        loops: list[Any] = []
        if lane["name"] == "sqs":
            sqs = await stack.enter_async_context(
                sqs_client(values["endpoint_url"] or None, values["region"])
            )
            for _ in range(SQS_POLLERS):
                responder = SqsResponder(
                    sqs,
                    values["request_queue_url"],
                    values["response_queue_url"],
                    SystemClock(),
                    on_published=hook,
                )
                loops.append(responder.run(stop))
        else:
            consumer, producer = await stack.enter_async_context(
                kafka_clients(values["bootstrap_servers"], values["request_topic"], "bench-resp")
            )
            kafka = KafkaResponder(
                consumer, producer, values["response_topic"], SystemClock(), on_published=hook
            )
            loops.append(kafka.run(stop))
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def run(lane: dict[str, Any], base_url: str, token: str, n: int, c: int) -> dict[str, Any]:
    published: dict[str, float] = {}

    def hook(dispatch: Dispatch, _: dict[str, Any]) -> None:
        # setdefault: one() may have seen the result already (see there).
        published.setdefault(dispatch.execution_id, time.perf_counter())

    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=c + 4)
    async with (
        responders(lane, hook),
        aiohttp.ClientSession(base_url, headers=headers, connector=connector) as http,
    ):

        async def call(method: str, path: str, body: Any = None) -> Any:
            async with http.request(method, path, json=body) as response:
                data = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"{method} {path}: {response.status} {data}")
                return data

        async def one(i: int) -> float:
            """Submit one order and wait for its result; ms from completion published."""
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
            eid = (await call("POST", f"{CP}/executions", body))["executionId"]
            # until=terminal: one long poll holds through the park while the answer travels over
            # the broker (the default answers at the park, and a client would ask ~4 times).
            while True:
                path = f"{CP}/executions/{eid}/result?waitMs=10000&until=terminal"
                result = await call("GET", path)
                if result["status"]["status"] in ("SUCCEEDED", "FAILED", "DLQ"):
                    break
            seen = time.perf_counter()
            if result["status"]["status"] != "SUCCEEDED":
                raise RuntimeError(f"{eid} ended {result['status']}")
            # The responder notes "published" once the broker acknowledged the answer, and the
            # coordinator may consume and apply it before that acknowledgement comes back: the
            # result is then seen first, and the latency counts as 0 rather than failing the run.
            return (seen - published.setdefault(eid, seen)) * 1000

        probe_s = float(os.environ.get("BENCH_BROKER_PROBE_S", "20"))
        try:
            await asyncio.wait_for(one(-1), probe_s)
        except TimeoutError:
            return {"wired": False, "reason": f"no result within {probe_s:.0f} s of a submit"}

        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        latencies: list[float] = []

        async def closed_loop() -> None:
            while not queue.empty():
                latencies.append(await one(queue.get_nowait()))

        t0 = time.perf_counter()
        await asyncio.gather(*(closed_loop() for _ in range(c)))
        total_s = time.perf_counter() - t0
    lat = sorted(latencies)
    return {
        "wired": True,
        "n": n,
        "concurrency": c,
        "total_s": total_s,
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def main() -> None:
    lane = json.loads(sys.argv[1])
    base_url, token, n, c = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    print(json.dumps(asyncio.run(run(lane, base_url, token, n, c))), flush=True)


if __name__ == "__main__":
    main()
