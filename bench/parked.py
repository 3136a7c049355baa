"""Scale of cost with work: the restaurant workload on SQLite with 1k, 10k, 100k parked executions.

For each size: a coordinator parks one real restaurant execution (the template), and the store
is seeded with that many copies of it (new execution, interaction and correlation ids; the
interaction's deadline a day away so no timeout fires), inserted in batches of 5,000 rows with
the SQLite store's own row encoders, on its own connection thread, in one transaction per batch:
valid records, exactly as the store would have written them, in a second per ~50k executions
instead of minutes through the engine. The coordinator is then closed and reopened: the restart
time is from opening the stores to ``Runtime.ready`` (start() returned: leases reclaimed,
supervisors and the work consumer running). Then N executions run on top (as bench/engine.py:
submit, park, complete, result) and executions/s is compared with the 1k figure.

``BENCH_PARKED_SIZES`` (default ``1000,10000,100000``), ``BENCH_PARKED_N`` (workload, 2000) and
``BENCH_CONCURRENCY`` (256).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from msgspec.structs import replace

from bench.workload import TENANT, order, release_restaurant, run_executions
from demos.restaurant_approval.pipeline import PIPELINE_ID
from tpf.cli.gc_tuning import tune_garbage_collector
from tpf.config.settings import ReleaseSettings, Settings, StateSettings, WorkerSettings
from tpf.coordinator import Coordinator
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus
from tpf.stores.factory import open_stores
from tpf.stores.sqlite import SqliteAwaitStore, SqliteExecutionStore
from tpf.stores.sqlite.awaits import _interaction_row
from tpf.stores.sqlite.executions import _INSERT_EXECUTION, _execution_row

BATCH = 5_000
DAY_MS = 86_400_000
_INSERT_INTERACTION = """INSERT INTO interactions (correlation_id, version, status, pending,
    deadline_epoch_ms, assignee, grp, step_id, applied, dispatch_state, data, execution_id,
    created_at_epoch_ms, tenant_id, interaction_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


@dataclass
class Figures:
    parked: int
    n: int
    seconds: float
    cpu_s: float
    restart_s: float
    seed_s: float

    @property
    def rate(self) -> float:
        return self.n / self.seconds


def settings_for(root: Path) -> Settings:
    return Settings(
        state=StateSettings(provider="sqlite", dir=str(root)),
        workers=WorkerSettings(lifecycle_provider="sqlite", max_in_flight=256),
        releases=ReleaseSettings(registry_provider="file"),
    )


async def park_template(coordinator: Coordinator) -> tuple[ExecutionRecord, AwaitInteraction]:
    """One real restaurant execution parked on its approval (never answered)."""
    request = order(0)
    submitted = await coordinator.submit(
        TENANT, PIPELINE_ID, request, idempotency_key=request["requestId"]
    )
    parked = await coordinator.wait_for(
        TENANT, submitted.execution_id, (ExecutionStatus.WAITING_EXTERNAL,), timeout_s=60
    )
    assert parked.await_interaction_id is not None, parked
    interaction = await coordinator.interaction(TENANT, parked.await_interaction_id)
    return parked, interaction


Rows = tuple[list[tuple[object, ...]], list[tuple[object, ...]]]


def copies(
    record: ExecutionRecord, interaction: AwaitInteraction, count: int, deadline_ms: int
) -> Rows:
    """``count`` (execution row, interaction row) pairs like the template, with fresh ids."""
    executions, interactions = [], []
    for _ in range(count):
        eid, iid = str(uuid.uuid4()), str(uuid.uuid4())
        executions.append(
            _execution_row(
                replace(record, execution_id=eid, execution_key=eid, await_interaction_id=iid)
            )
        )
        interactions.append(
            _interaction_row(
                replace(
                    interaction,
                    interaction_id=iid,
                    correlation_id=iid,
                    execution_id=eid,
                    deadline_epoch_ms=deadline_ms,
                )
            )
        )
    return executions, interactions


async def seed(coordinator: Coordinator, parked: int) -> None:
    """``parked`` copies of a parked template, inserted on the store's own connection."""
    record, interaction = await park_template(coordinator)
    store = coordinator.stores.executions
    assert isinstance(store, SqliteExecutionStore)
    assert isinstance(coordinator.stores.awaits, SqliteAwaitStore)
    deadline = coordinator.clock.now_ms() + DAY_MS
    left = parked - 1  # the template is one of them
    while left > 0:
        rows = copies(record, interaction, min(BATCH, left), deadline)

        def insert(conn: sqlite3.Connection, rows: Rows = rows) -> None:
            conn.executemany(_INSERT_EXECUTION, rows[0])
            conn.executemany(_INSERT_INTERACTION, rows[1])

        await store._db.run(insert)
        left -= len(rows[0])


async def open_ready(settings: Settings) -> tuple[Coordinator, float]:
    """A coordinator opened on ``settings``, started; and the seconds to ``ready``."""
    start = time.perf_counter()
    coordinator = Coordinator(settings, await open_stores(settings))
    await coordinator.start()
    assert coordinator.ready
    return coordinator, time.perf_counter() - start


async def run_size(parked: int, n: int, concurrency: int, root: Path) -> Figures:
    settings = settings_for(root)
    first = Coordinator(settings, await open_stores(settings))
    await first.start()
    await release_restaurant(first, root / "build")
    seed_start = time.perf_counter()
    await seed(first, parked)
    await first.close()  # a TRUNCATE checkpoint: the seed is in the main file
    # The seed's dirty pages (~750 MB at 100k) would otherwise be written back by the kernel
    # during the measurement and charge its I/O to the workload.
    os.sync()
    seed_s = time.perf_counter() - seed_start
    coordinator, restart_s = await open_ready(settings)
    try:
        tune_garbage_collector()  # as tpf serve does
        await release_restaurant(coordinator, root / "build2")
        await run_executions(coordinator, min(n, 200), concurrency)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        await run_executions(coordinator, n, concurrency)
        seconds, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        counts = await coordinator.stores.executions.count_by_status()
        assert counts.get(ExecutionStatus.WAITING_EXTERNAL.value, 0) == parked, counts
    finally:
        await coordinator.close()
    return Figures(parked, n, seconds, cpu_s, restart_s, seed_s)


async def run(sizes: list[int], n: int, concurrency: int) -> list[Figures]:
    print(
        f"SQLite, restaurant workload N={n} ({concurrency} in flight) on top of parked executions"
    )
    results: list[Figures] = []
    for parked in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            f = await run_size(parked, n, concurrency, Path(tmp))
        base = results[0].rate if results else f.rate
        results.append(f)
        print(
            f"  parked={f.parked:<7} {f.rate:7.0f} executions/s  ({f.rate / base:4.2f} of the "
            f"first size)  cpu={1000 * f.cpu_s / f.n:5.3f} ms/execution  "
            f"restart to ready {1000 * f.restart_s:7.1f} ms  "
            f"(seeded in {f.seed_s:4.1f} s)",
            flush=True,
        )
    return results


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    sizes = [int(s) for s in os.environ.get("BENCH_PARKED_SIZES", "1000,10000,100000").split(",")]
    n = int(os.environ.get("BENCH_PARKED_N", "2000"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "256"))
    asyncio.run(run(sizes, n, concurrency))


if __name__ == "__main__":
    main()
