"""HA-shape benchmark: the restaurant workload on DynamoDB + SQS + S3 (a local moto server).

One coordinator in this process, configured as the recipe's durable baseline (dynamo state,
SQS work queue with ``local-loopback=false`` and DLQ, Dynamo release registry, S3 artifacts),
runs N restaurant executions with C in flight: submit, park, complete, result. It prints
executions/s and the number of AWS requests per completed execution by service, counted by a
botocore event hook on the coordinator's own clients (background polls included). moto is far
slower than DynamoDB, so executions/s measures moto more than us; the request count is the
figure that transfers. ``BENCH_HA_N`` (default 300) and ``BENCH_HA_CONCURRENCY`` (32).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from demos.restaurant_approval.pipeline import PIPELINE_ID, pipeline
from tpf.aws import AwsClients
from tpf.bootstrap import bootstrap_aws
from tpf.coordinator import Coordinator
from tpf.dev_moto import AtomicMotoServer
from tpf.records import ExecutionStatus
from tpf.releases import build_release
from tpf.settings import Settings

TENANT = "bench"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
IDLE_WINDOW_S = 5.0
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def ha_settings(endpoint: str, root: Path) -> Settings:
    return Settings(
        state_provider="dynamo",
        dispatcher_provider="sqs",
        dlq_provider="sqs",
        releases_registry_provider="dynamo",
        releases_storage_provider="s3",
        worker_lifecycle_provider="dynamo",
        state_dir=str(root),
        dynamo_endpoint_override=endpoint,
        sqs_endpoint_override=endpoint,
        s3_endpoint_override=endpoint,
        s3_path_style_access=True,
        s3_bucket="tpf-release-artifacts",
        queue_url=f"{endpoint}/123456789012/tpf-work",
        dlq_url=f"{endpoint}/123456789012/tpf-execution-dlq",
        sqs_local_loopback=False,
        sweep_interval_ms=30_000,  # the recipe's
        worker_max_in_flight=256,
    )


async def run(endpoint: str, root: Path, n: int, concurrency: int) -> None:
    settings = ha_settings(endpoint, root)
    bootstrap = AwsClients(settings)
    await bootstrap_aws(settings, bootstrap)
    await bootstrap.close()
    coordinator = await Coordinator.open(settings)
    assert coordinator.aws is not None
    try:
        await coordinator.start()
        worker = coordinator.host(pipeline)
        release = await coordinator.register_release(
            TENANT, PIPELINE_ID, str(build_release(pipeline, root / "build"))
        )
        await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
        await coordinator.register_local_worker(TENANT, worker, "bench-worker")
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                order = {
                    "requestId": f"{i}-{uuid.uuid4()}",
                    "customerName": "Ada Lovelace",
                    "restaurantName": "Cafe TPF",
                    "items": "Margherita Pizza",
                    "totalAmount": "27.50",
                    "currency": "EUR",
                }
                run = await coordinator.submit(
                    TENANT, PIPELINE_ID, order, idempotency_key=order["requestId"]
                )
                parked = await coordinator.wait_for(
                    TENANT,
                    run.execution_id,
                    (ExecutionStatus.WAITING_EXTERNAL, *TERMINAL),
                    timeout_s=60,
                )
                await coordinator.complete(
                    TENANT,
                    interaction_id=parked.await_interaction_id,
                    response={"accepted": {"orderId": str(uuid.uuid4())}},
                )
                done = await coordinator.wait_for(TENANT, run.execution_id, TERMINAL, timeout_s=60)
                assert done.status is ExecutionStatus.SUCCEEDED, done

        await asyncio.gather(*(one(i) for i in range(min(n, 10))))  # warm-up (admission caches)
        # The background rate (long polls, admission refreshes) is per second, not per execution:
        # measure it idle, so the per-execution figure does not depend on how slow moto is.
        idle_before, idle_start = sum(coordinator.aws.requests.values()), time.perf_counter()
        await asyncio.sleep(IDLE_WINDOW_S)
        idle_rate = (sum(coordinator.aws.requests.values()) - idle_before) / (
            time.perf_counter() - idle_start
        )
        before = Counter(coordinator.aws.requests)
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        seconds = time.perf_counter() - start
        used = Counter(coordinator.aws.requests)
        used.subtract(before)
    finally:
        await coordinator.close()
    total = sum(used.values())
    by_service = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(used.items()) if v)
    work = total - idle_rate * seconds
    print(f"HA shape on moto (dynamo + sqs + s3), one coordinator, {concurrency} in flight, N={n}")
    print(f"  executions/s             {n / seconds:8.1f}  (moto-bound)")
    print(f"  AWS requests/execution   {total / n:8.2f}  measured ({by_service})")
    print(
        f"                           {work / n:8.2f}  without the idle background "
        f"({idle_rate:.1f} requests/s)"
    )


def main() -> None:
    n = int(os.environ.get("BENCH_HA_N", "300"))
    concurrency = int(os.environ.get("BENCH_HA_CONCURRENCY", "32"))
    for key, value in FAKE_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(f"http://{host}:{port}", Path(tmp), n, concurrency))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
