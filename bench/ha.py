"""HA-shape benchmark: the restaurant workload on DynamoDB + SQS + S3 (a local moto server).

One coordinator in this process, configured as the recipe's durable baseline (dynamo state,
SQS work queue with ``local-loopback=false`` and DLQ, Dynamo release registry, S3 artifacts),
runs N restaurant executions with C in flight: submit, park, complete, result. It prints
executions/s and the number of AWS requests per completed execution by service and by
operation, counted by a botocore event hook on the coordinator's own clients (background polls
included), with the client's own reads (its status long polls and task reads) counted apart.
moto is far slower than DynamoDB, so executions/s measures moto more than us; the request
count is the figure that transfers. ``BENCH_HA_N`` (default 300) and ``BENCH_HA_CONCURRENCY`` (32).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.workload import release_restaurant, run_executions
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.cli.aws import FAKE_CREDENTIALS, dev_settings
from tpf.cli.gc_tuning import tune_garbage_collector
from tpf.config.settings import Settings, StateSettings, SweeperSettings, WorkerSettings
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.dev.moto import AtomicMotoServer

TENANT = "bench"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
IDLE_WINDOW_S = 5.0
# The client's own reads through the coordinator (the status long poll, the task read): what a
# caller asks for, not what running the execution costs. Told apart by the calling code.
CLIENT_CALLS = ("tpf/engine/long_polls.py", "tpf/engine/operator.py")


class ClientReads:
    """Counts the requests made from the client's calls (``CLIENT_CALLS``) by operation."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, model: Any, **kwargs: Any) -> None:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.endswith(CLIENT_CALLS):
                self.counts[f"dynamodb.{model.name}"] += 1
                return
            frame = frame.f_back  # type: ignore[assignment]


def ha_settings(endpoint: str, root: Path) -> Settings:
    """What ``tpf dev aws`` sets up (the recipe's durable shape) at ``endpoint``."""
    base = Settings(
        state=StateSettings(dir=str(root)),
        sweeper=SweeperSettings(interval_ms=30_000),
        workers=WorkerSettings(max_in_flight=256),
    )
    return dev_settings(base, endpoint)


async def run(endpoint: str, root: Path, n: int, concurrency: int) -> None:
    settings = ha_settings(endpoint, root)
    bootstrap = AwsClients(settings)
    await bootstrap_aws(settings, bootstrap)
    await bootstrap.close()
    coordinator = await Coordinator.open(settings)
    assert coordinator.aws is not None
    client_reads = ClientReads()
    dynamo = await coordinator.aws.client("dynamodb")
    dynamo.meta.events.register("before-call.dynamodb", client_reads)
    try:
        await coordinator.start()
        tune_garbage_collector()  # as tpf serve does
        await release_restaurant(coordinator, root / "build")
        await run_executions(coordinator, min(n, 10), concurrency)  # warm-up (admission caches)
        # The background rate (long polls, admission refreshes) is per second, not per execution:
        # measure it idle, so the per-execution figure does not depend on how slow moto is.
        idle_ops, idle_start = Counter(coordinator.aws.operations), time.perf_counter()
        await asyncio.sleep(IDLE_WINDOW_S)
        idle_seconds = time.perf_counter() - idle_start
        idle = Counter(coordinator.aws.operations)
        idle.subtract(idle_ops)
        idle_rate = sum(idle.values()) / idle_seconds
        before = Counter(coordinator.aws.operations)
        client_before = Counter(client_reads.counts)
        start = time.perf_counter()
        await run_executions(coordinator, n, concurrency)
        seconds = time.perf_counter() - start
        used = Counter(coordinator.aws.operations)
        used.subtract(before)
        client = Counter(client_reads.counts)
        client.subtract(client_before)
    finally:
        await coordinator.close()
    total = sum(used.values())
    services: Counter[str] = Counter()
    for key, count in used.items():
        services[key.split(".", 1)[0]] += count
    by_service = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(services.items()) if v)
    work = total - idle_rate * seconds
    print(f"HA shape on moto (dynamo + sqs + s3), one coordinator, {concurrency} in flight, N={n}")
    print(f"  executions/s             {n / seconds:8.1f}  (moto-bound)")
    print(f"  AWS requests/execution   {total / n:8.2f}  measured ({by_service})")
    print(
        f"                           {work / n:8.2f}  without the idle background "
        f"({idle_rate:.1f} requests/s)"
    )
    clients = sum(client.values())
    print(
        f"                           {(total - clients) / n:8.2f}  without the client's own "
        f"reads ({clients / n:.2f}: its status long polls and task reads)"
    )
    print("  per operation, per execution during the run (of which client reads; idle rate):")
    for key in sorted(set(used) | set(idle)):
        if used[key] or idle[key]:
            print(
                f"    {key:<32} {used[key] / n:6.2f}  (client {client[key] / n:4.2f})"
                f"  idle {idle[key] / idle_seconds:5.2f}/s"
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
