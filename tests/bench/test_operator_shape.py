"""The operator benchmark shape: its seed writes exactly the rows the store's own write path
writes (so the figures are the store's), and ``python -m bench operator`` runs end to end with
a small N (search in process, then ``/q/metrics`` on a real ``tpf serve``)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bench.operator import PIPELINES, record, seed
from tpf.core.records import ExecutionStatus
from tpf.core.search import ExecutionQuery
from tpf.stores.sqlite import SqliteDatabase, SqliteExecutionStore

ROOT = Path(__file__).resolve().parents[2]


async def test_seeded_rows_are_the_stores_own(tmp_path: Path) -> None:
    seeded = str(tmp_path / "seeded.sqlite3")
    await seed(seeded, 300)
    written = str(tmp_path / "written.sqlite3")
    db = await SqliteDatabase.open(written)
    store = SqliteExecutionStore(db)
    for n in range(300):
        await store.create_or_get(record(n), 0)
    await db.close()

    def rows(path: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT * FROM executions ORDER BY execution_id").fetchall()
        finally:
            conn.close()

    assert rows(seeded) == rows(written)  # byte for byte, every column

    db = await SqliteDatabase.open(seeded)
    try:
        store = SqliteExecutionStore(db)
        counts = await store.count_by_status()
        assert sum(counts.values()) == 300 and "RUNNING" not in counts
        assert counts["FAILED"] > 0 and counts["SUCCEEDED"] > counts["FAILED"]
        query = ExecutionQuery(
            tenant_id=record(0).tenant_id, status=ExecutionStatus.FAILED, pipeline_id=PIPELINES[1]
        )
        page = await store.search(query, 50, None, 0)
        expected = sorted(
            (
                r
                for r in map(record, range(300))
                if r.status is ExecutionStatus.FAILED and r.pipeline_id == PIPELINES[1]
            ),
            key=lambda r: r.updated_at_epoch_ms,
            reverse=True,
        )
        assert page.items == expected[:50] and page.items
    finally:
        await db.close()


def test_the_shape_runs_end_to_end() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "operator"],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BENCH_OPERATOR_N": "400",
            "BENCH_OPERATOR_REPEAT": "3",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "400 executions seeded" in out
    for label in ("first page", "deep page", "GET /q/metrics"):
        [row] = [line for line in out.splitlines() if line.strip().startswith(label)]
        assert "p50" in row and "p99" in row and "target <=" in row, row
