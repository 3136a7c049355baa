"""``python -m bench csv`` keeps running: the embedded SQLite shape with a tiny N prints its
figures (the HA lanes are the demo's, run end to end in tests/demos/test_csv_demo.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sqlite_shape_prints_rate_latency_and_rss(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "csv"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("TPF_")},
            "PYTHONPATH": str(ROOT),
            "TMPDIR": str(tmp_path),
            "BENCH_CSV_SHAPES": "sqlite",
            "BENCH_CSV_SQLITE_RECORDS": "40",
            "BENCH_CSV_TIMEOUT_S": "120",
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "payments_40.csv.out: 40 data rows (36 approved, 4 unapproved)" in out, out
    assert "embedded SQLite (tpf serve hosts the pipeline), REST completions, N=40" in out
    for figure in ("records/s", "item apply latency p50/p99     <= ", "peak RSS"):
        assert figure in out
    assert "FAILED" not in out
    assert not list(tmp_path.glob("tpf-bench-csv-*")), "a passing run removes its state"
