"""``python -m bench.scrape``: how long a ``/q/metrics`` scrape takes on a large SQLite file.

Fills a SQLite state directory with ``BENCH_SCRAPE_N`` executions (default 100,000) in a mix of
statuses, a pending await interaction for every parked one and a few due retries, then renders
the coordinator's metrics ``BENCH_SCRAPE_ROUNDS`` times (default 200) through the same code the
REST edge serves and prints p50/p99/max. A scrape reads kept counts and limit-1 index reads, so
its time should not grow with the table (compare ``BENCH_SCRAPE_N=1000``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from tpf.config.settings import ReleaseSettings, Settings, StateSettings, WorkerSettings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.records import (
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    InteractionStatus,
)
from tpf.http.metrics import Metrics
from tpf.stores.factory import open_stores

TENANT = "bench"
PIPELINE = "bench.pipeline"
# Mostly finished work, as a long-running coordinator's table is.
MIX = (
    [ExecutionStatus.SUCCEEDED] * 14
    + [ExecutionStatus.FAILED, ExecutionStatus.WAITING_EXTERNAL, ExecutionStatus.WAITING_EXTERNAL]
    + [ExecutionStatus.WAIT_RETRY, ExecutionStatus.DLQ]
)


async def fill(coordinator: Coordinator, n: int, now_ms: int) -> None:
    stores = coordinator.stores
    for i in range(n):
        status = MIX[i % len(MIX)]
        eid = f"e-{i:07d}"
        record = ExecutionRecord(
            tenant_id=TENANT,
            execution_id=eid,
            execution_key=f"k-{i}",
            pipeline_id=PIPELINE,
            contract_version="c1",
            release_version="r1",
            status=status,
            next_due_epoch_ms=now_ms - 1_000 if status is ExecutionStatus.WAIT_RETRY else 0,
            created_at_epoch_ms=now_ms - n + i,
            updated_at_epoch_ms=now_ms - n + i,
        )
        await stores.executions.create_or_get(record, now_ms)
        if status is ExecutionStatus.WAITING_EXTERNAL:
            await stores.awaits.create_or_get(
                AwaitInteraction(
                    tenant_id=TENANT,
                    execution_id=eid,
                    step_id="approve",
                    step_index=1,
                    output_type=None,
                    interaction_id=f"i-{i}",
                    correlation_id=f"c-{i}",
                    causation_id=eid,
                    idempotency_key=f"ik-{i}",
                    unit_id=f"u-{i}",
                    status=InteractionStatus.WAITING,
                    deadline_epoch_ms=now_ms + 1_800_000 + i,
                    created_at_epoch_ms=now_ms,
                    updated_at_epoch_ms=now_ms,
                )
            )


async def run(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            state=StateSettings(provider="sqlite", dir=str(Path(tmp) / "state")),
            releases=ReleaseSettings(registry_provider="memory"),
            workers=WorkerSettings(lifecycle_provider="memory"),
        )
        clock = FakeClock()
        coordinator = Coordinator(settings, await open_stores(settings), clock=clock)
        try:
            started = time.perf_counter()
            await fill(coordinator, n, clock.now_ms())
            print(f"filled {n} executions in {time.perf_counter() - started:.1f} s")
            metrics = Metrics(coordinator, {})
            await metrics.render()  # warm: first statements prepared
            times_ms = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                body = await metrics.render()
                times_ms.append((time.perf_counter() - t0) * 1000)
            times_ms.sort()
            p99 = times_ms[max(0, int(len(times_ms) * 0.99) - 1)]
            print(
                f"/q/metrics on SQLite, {n} executions: p50 {statistics.median(times_ms):.2f} ms, "
                f"p99 {p99:.2f} ms, max {times_ms[-1]:.2f} ms ({len(body)} bytes, {rounds} scrapes)"
            )
        finally:
            await coordinator.close()


def main() -> None:
    n = int(os.environ.get("BENCH_SCRAPE_N", "100000"))
    rounds = int(os.environ.get("BENCH_SCRAPE_ROUNDS", "200"))
    asyncio.run(run(n, rounds))


if __name__ == "__main__":
    main()
