"""In-process coordinator benchmark: the restaurant workload on the memory and SQLite stores.

N executions, each: submit -> validate -> create approval -> park on the await; the client
completes each await as soon as it parks and waits for the result. Reports executions/s (first
submit to last result), p50/p99 latency from completion sent to result seen, and CPU ms per
execution. ``BENCH_N`` and ``BENCH_CONCURRENCY`` override the defaults.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.workload import release_restaurant, run_executions
from tpf.cli.gc_tuning import tune_garbage_collector
from tpf.config.settings import ReleaseSettings, Settings, StateSettings, WorkerSettings
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.stores.factory import open_stores

TENANT = "bench"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)


@dataclass
class Figures:
    shape: str
    n: int
    seconds: float
    cpu_s: float
    latencies_ms: list[float]

    def line(self) -> str:
        lat = sorted(self.latencies_ms)
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (
            f"{self.shape:<8} n={self.n:<6} {self.n / self.seconds:8.0f} executions/s  "
            f"completion->result p50={p50:6.2f} ms p99={p99:7.2f} ms  "
            f"cpu={1000 * self.cpu_s / self.n:5.3f} ms/execution"
        )


async def run_shape(shape: str, n: int, concurrency: int, root: Path) -> Figures:
    settings = Settings(
        state=StateSettings(provider=shape, dir=str(root / shape)),
        workers=WorkerSettings(lifecycle_provider=shape, max_in_flight=256),
        releases=ReleaseSettings(registry_provider="memory" if shape == "memory" else "file"),
    )
    coordinator = Coordinator(settings, await open_stores(settings))
    await coordinator.start()
    tune_garbage_collector()  # as tpf serve does
    await release_restaurant(coordinator, root / shape / "build")
    await run_executions(coordinator, min(n, 200), concurrency)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    latencies = await run_executions(coordinator, n, concurrency)
    figures = Figures(shape, n, time.perf_counter() - wall, time.process_time() - cpu, latencies)
    await coordinator.close()
    return figures


async def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    n = int(os.environ.get("BENCH_N", "5000"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "256"))
    print(f"in-process coordinator, restaurant workload, {concurrency} executions in flight")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("memory", "sqlite"):
            print((await run_shape(shape, n, concurrency, Path(tmp))).line(), flush=True)
