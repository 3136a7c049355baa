"""The plain benchmark shape (issue 14): ``python -m bench plain`` serves the 3-step pipeline
with ``tpf serve`` and drives it from a client process with a tiny N, as ``make bench`` runs it,
and its ratios are computed against the SQLite default."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bench.plain import PlainFigures, ratio_line, variants

ROOT = Path(__file__).resolve().parents[2]


def figures(variant: str, per_s: float, cpu_ms: float, p50_ms: float) -> PlainFigures:
    return PlainFigures(variant, 100, per_s, p50_ms, 2 * p50_ms, cpu_ms, 1.0)


def test_ratios_are_against_the_first_figures() -> None:
    line = ratio_line(figures("sqlite", 1000, 1.0, 30), figures("memory", 1500, 0.6, 20))
    assert "memory / sqlite" in line
    assert "exec/s x1.50" in line and "CPU/exec x0.60" in line and "p50 x0.67" in line


def test_the_variants_are_the_durable_mode_the_event_loop_and_the_store() -> None:
    chosen = variants()
    assert set(chosen) == {"sqlite", "sqlite FULL", "sqlite asyncio", "memory"}
    assert chosen["sqlite FULL"][0] == {"TPF_SQLITE_SYNCHRONOUS": "FULL"}
    assert chosen["sqlite asyncio"][1] == ("--loop", "asyncio")
    assert chosen["sqlite"] == ({}, ())  # the defaults: NORMAL, uvloop


def test_the_shape_runs_end_to_end_with_a_tiny_n() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_PLAIN_N": "20",
        "BENCH_PLAIN_VARIANTS": "sqlite,memory",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "plain"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^\s+(sqlite|memory)\s+(\d+) exec/s", done.stdout, re.MULTILINE)
    }
    assert set(rows) == {"sqlite", "memory"}, done.stdout
    assert all(value > 0 for value in rows.values())
    assert "memory / sqlite" in done.stdout
