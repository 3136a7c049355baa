"""The plain benchmark's load generator, its own process (``python -m bench.plain_client``).

C workers in a closed loop, each submitting one plain execution and long-polling its result,
then the next, until N have finished. Prints one JSON line: elapsed seconds and the p50/p99 of
submit -> result. The same harness style as :mod:`bench.rest_client` (aiohttp, C in flight).
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
import uuid
from typing import Any

from bench.plain_pipeline import PIPELINE_ID
from bench.rest_client import api

TENANT = "restaurant-demo"  # the demo server's tenant and token
CP = f"/tpf/control-plane/tenants/{TENANT}"


async def run(base_url: str, token: str, n: int, concurrency: int) -> dict[str, Any]:
    async with api(base_url, token, concurrency) as call:
        remaining = iter(range(n))
        latencies: list[float] = []

        async def closed_loop() -> None:
            for i in remaining:
                body = {
                    "pipelineId": PIPELINE_ID,
                    "inputShape": "UNI",
                    "inputPayload": {
                        "payloadTypeId": "bench.plain.Order",
                        "payloadEncoding": "application/tpf-transition+json",
                        "payload": json.dumps({"orderId": f"o-{i}", "amount": 100 + i}),
                    },
                    "idempotencyKey": f"plain-{uuid.uuid4()}",
                }
                start = time.perf_counter()
                eid = (await call("POST", f"{CP}/executions", body))["executionId"]
                while True:
                    result = await call("GET", f"{CP}/executions/{eid}/result?waitMs=10000")
                    if result["status"]["status"] in ("SUCCEEDED", "FAILED", "DLQ"):
                        break
                latencies.append((time.perf_counter() - start) * 1000)
                if result["status"]["status"] != "SUCCEEDED":
                    raise RuntimeError(f"{eid} ended {result['status']}")

        t0 = time.perf_counter()
        await asyncio.gather(*(closed_loop() for _ in range(concurrency)))
        elapsed_s = time.perf_counter() - t0
    lat = sorted(latencies)
    return {
        "n": n,
        "concurrency": concurrency,
        "elapsed_s": elapsed_s,
        "client_cpu_s": _cpu_s(),
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    base_url, token, n, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(run(base_url, token, n, concurrency))), flush=True)


if __name__ == "__main__":
    main()
