"""Operator benchmark (issue 12): search and ``/q/metrics`` over 100,000 executions on SQLite.

Seeds ``BENCH_OPERATOR_N`` executions (default 100,000) into a fresh SQLite file with the
store's own row encoding and insert statement (``executions._execution_row`` and
``_INSERT_EXECUTION``, batched in a few transactions, so the rows, the indexes and the status
count triggers are exactly what ``create_or_get`` writes, only without 100,000 group commits),
spread over five pipelines, three releases and every status but RUNNING. Nothing is due, so
the server started on the file later stays idle.

Then it times, each ``BENCH_OPERATOR_REPEAT`` times (default 200):

- ``SqliteExecutionStore.search`` of a filtered page (status FAILED + one pipeline, limit 50):
  the first page, and a deep page (the cursor after 20 pages);
- the same first page over REST (``GET .../executions?status=&pipelineId=&limit=50``) when the
  server on this branch has the route (it answers 404 otherwise, reported as "n/a");
- ``GET /q/metrics`` on a ``tpf serve`` process over the file, from this process over a real
  socket, one request at a time.

It prints p50/p99 of each next to the issue's targets (a search page <= 20 ms, /q/metrics
<= 50 ms). ``python -m bench operator`` runs it; ``tests/bench`` runs it with a small N.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from demos.restaurant_approval.server import TENANT, TOKEN, DemoServer, free_port
from tpf.core.records import NEVER_DUE_EPOCH_MS, ExecutionRecord, ExecutionStatus
from tpf.core.search import ExecutionQuery
from tpf.stores.sqlite import SqliteDatabase, SqliteExecutionStore
from tpf.stores.sqlite.executions import _INSERT_EXECUTION, _execution_row

SEARCH_TARGET_MS = 20.0
METRICS_TARGET_MS = 50.0
PIPELINES = tuple(f"bench.pipeline.{n}" for n in range(5))
# A plausible spread: mostly finished, a tail of failures the operator pages through.
STATUS_WEIGHTS = (
    (ExecutionStatus.SUCCEEDED, 70),
    (ExecutionStatus.WAITING_EXTERNAL, 14),
    (ExecutionStatus.FAILED, 8),
    (ExecutionStatus.DLQ, 3),
    (ExecutionStatus.QUEUED, 3),
    (ExecutionStatus.WAIT_RETRY, 2),
)
# No RUNNING ones: a server opening the file holds its directory lock, so it would expire
# every other owner's lease at start and take those executions over (their pipelines are not
# hosted here), which is work the measurement should not share the machine with.
T0 = 1_760_000_000_000
DEEP_PAGE = 20
WARMUP = 5
_TERMINAL = {"SUCCEEDED", "FAILED", "DLQ"}


def _status(n: int) -> ExecutionStatus:
    slot = (n * 7919) % 100  # deterministic, evenly mixed over time
    for status, weight in STATUS_WEIGHTS:
        if slot < weight:
            return status
        slot -= weight
    return ExecutionStatus.SUCCEEDED


def record(n: int) -> ExecutionRecord:
    status = _status(n)
    failed = status in (ExecutionStatus.FAILED, ExecutionStatus.DLQ)
    return ExecutionRecord(
        tenant_id=TENANT,
        execution_id=f"bench-{n:07d}",
        execution_key=f"key-{n:07d}",
        pipeline_id=PIPELINES[n % len(PIPELINES)],
        contract_version="c1",
        release_version=f"r{n % 3}",
        status=status,
        version=3,
        current_step_index=n % 4,
        current_step_id=f"step-{n % 4}",
        # Never due: the server started on the file must not try to run them.
        next_due_epoch_ms=NEVER_DUE_EPOCH_MS,
        input_payload={"order": n, "items": ["soup", "bread"], "note": "x" * 40},
        error_code="PAYMENT_DECLINED" if failed else None,
        error_message="card declined by issuer" if failed else None,
        created_at_epoch_ms=T0 + n * 10,
        updated_at_epoch_ms=T0 + n * 10 + 5,
        ttl_epoch_s=(T0 // 1000) + 10 * 365 * 86_400 if status.value in _TERMINAL else 0,
    )


async def seed(path: str, n: int) -> float:
    """Write ``n`` executions; the seconds it took."""
    started = time.perf_counter()
    db = await SqliteDatabase.open(path)
    try:
        batch = 10_000
        for start in range(0, n, batch):
            rows = [_execution_row(record(i)) for i in range(start, min(n, start + batch))]
            await db.run(lambda conn, rows=rows: conn.executemany(_INSERT_EXECUTION, rows))
        await db.run(lambda conn: conn.execute("ANALYZE"))
    finally:
        await db.close()
    return time.perf_counter() - started


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


async def _time(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def time_search(path: str, repeat: int) -> dict[str, tuple[float, float, int]]:
    """``{page: (p50, p99, items)}`` of the filtered first and deep page, in process."""
    db = await SqliteDatabase.open(path)
    store = SqliteExecutionStore(db)
    query = ExecutionQuery(
        tenant_id=TENANT, status=ExecutionStatus.FAILED, pipeline_id=PIPELINES[1]
    )
    now = T0
    try:
        cursor: str | None = None
        for _ in range(DEEP_PAGE):
            page = await store.search(query, 50, cursor, now)
            cursor = page.next_cursor
            if cursor is None:
                break
        first = await store.search(query, 50, None, now)
        deep = await store.search(query, 50, cursor, now) if cursor else first
        results = {}
        for name, at, items in (
            ("first page", None, len(first.items)),
            (f"deep page (page {DEEP_PAGE + 1})", cursor, len(deep.items)),
        ):
            samples = await _time(lambda at=at: store.search(query, 50, at, now), repeat)
            results[name] = (*percentiles(samples), items)
        return results
    finally:
        await db.close()


def time_http(port: int, path: str, repeat: int) -> tuple[float, float, int] | None:
    """p50/p99 of ``GET path`` on one kept-alive connection, and the body size; ``None`` when
    the route is not there (404, or 405 where only POST exists)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    samples: list[float] = []
    size = 0
    try:
        for i in range(repeat + WARMUP):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            if i >= WARMUP:  # the first requests open the connection and warm the caches
                samples.append((time.perf_counter() - started) * 1000)
            if response.status in (404, 405):  # no such GET route on this build
                return None
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
            size = len(body)
    finally:
        conn.close()
    return (*percentiles(samples), size)


def line(label: str, figures: tuple[float, float, int] | None, target: float, unit: str) -> str:
    if figures is None:
        return f"  {label:<44} n/a (no such route on this branch)"
    p50, p99, size = figures
    verdict = "ok" if p99 <= target else "OVER"
    return (
        f"  {label:<44} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
        f"target <= {target:.0f} ms: {verdict}  ({size} {unit})"
    )


def main() -> None:
    n = int(os.environ.get("BENCH_OPERATOR_N", "100000"))
    repeat = int(os.environ.get("BENCH_OPERATOR_REPEAT", "200"))
    with tempfile.TemporaryDirectory(prefix="tpf-bench-operator-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        path = str(state / "tpf.sqlite3")
        seeded_s = asyncio.run(seed(path, n))
        size_mb = os.path.getsize(path) / 1e6
        print(f"operator bench: {n} executions seeded in {seeded_s:.1f} s ({size_mb:.0f} MB)")
        search = asyncio.run(time_search(path, repeat))
        print("search (SqliteExecutionStore.search, status=FAILED & pipelineId, limit 50):")
        for name, figures in search.items():
            print(line(name, figures, SEARCH_TARGET_MS, "items"))
        server = DemoServer(state, free_port())
        server.start(timeout_s=120)
        try:
            print("over REST on `tpf serve` (one request at a time, kept-alive socket):")
            route = (
                f"/tpf/control-plane/tenants/{TENANT}/executions"
                f"?status=FAILED&pipelineId={PIPELINES[1]}&limit=50"
            )
            print(
                line(
                    "GET .../executions (first page)",
                    time_http(server.port, route, repeat),
                    SEARCH_TARGET_MS,
                    "bytes",
                )
            )
            metrics = time_http(server.port, "/q/metrics", repeat)
            print(line("GET /q/metrics", metrics, METRICS_TARGET_MS, "bytes"))
        finally:
            server.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
