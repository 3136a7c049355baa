"""The remote-worker benchmark shape: its overheads and target verdict are computed against the
in-process lane, and ``python -m bench remote`` runs through all three lanes (a coordinator
and a ``tpf worker`` over REST, then gRPC) with a tiny N, as ``make bench`` runs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bench.remote import Lane, table, verdict

ROOT = Path(__file__).resolve().parents[2]


def lane(name: str, per_execution_ms: float, p50_ms: float, single: float | None = 4.0) -> Lane:
    n = 100
    return Lane(
        name,
        n,
        total_s=per_execution_ms * n / 1000,
        p50_ms=p50_ms,
        p99_ms=2 * p50_ms,
        single_p50_ms=single,
        coordinator_cpu_ms=2.0,
        worker_cpu_ms=None if name == "inprocess" else 1.0,
    )


def columns(row: str) -> list[str]:
    return row.split()[-9:]  # the label may be two words; the nine figures are not


def test_overheads_are_ratios_to_the_in_process_lane() -> None:
    rows = table([lane("inprocess", 5.0, 40.0), lane("rest", 7.5, 60.0, single=6.0)])
    assert columns(rows[1])[4:] == ["-", "1.00", "1.00", "4.00", "1.00"]
    # 7.5 / 5.0 ms per execution, 60 / 40 ms p50, 6 / 4 ms p50 with one in flight.
    assert columns(rows[2])[4:] == ["1.00", "1.50", "1.50", "6.00", "1.50"]
    assert columns(rows[2])[:2] == ["133", "60.00"]  # 100 executions in 0.75 s


def test_the_target_holds_up_to_twice_the_in_process_e2e_time() -> None:
    base = lane("inprocess", 5.0, 40.0)
    lines = verdict([base, lane("rest", 10.0, 30.0), lane("grpc", 10.5, 30.0)])
    assert "REST worker holds (2.00x" in lines[0]
    assert "gRPC worker MISSED (2.10x" in lines[1]


def test_without_an_in_process_lane_nothing_is_compared() -> None:
    rows = table([lane("grpc", 5.0, 40.0, single=None)])
    assert columns(rows[1])[4:] == ["1.00", "-", "-", "-", "-"]
    assert verdict([lane("grpc", 5.0, 40.0)]) == [
        "  target not checked: no in-process lane in this run"
    ]


def test_python_m_bench_remote_runs_the_three_lanes(tmp_path: Path) -> None:
    env = {
        # The shape configures its own coordinators and workers; none of ours may leak in.
        **{k: v for k, v in os.environ.items() if not k.startswith(("TPF_", "PIPELINE_"))},
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmp_path),
        "BENCH_REMOTE_N": "3",
        "BENCH_REMOTE_SINGLE_N": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "remote"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # exec/s, p50, p99, coordinator CPU; then worker CPU, the two ratios, p50@1 and its ratio.
    figures = r"\s+\d+(\s+\d+\.\d\d){3}"
    baseline = r"\s+-\s+1\.00\s+1\.00\s+\d+\.\d\d\s+1\.00$"
    assert re.search("^  in-process" + figures + baseline, out, re.M), out
    for label in ("REST worker", "gRPC worker"):
        assert re.search(f"^  {label}{figures}" + r"(\s+\d+\.\d\d){5}$", out, re.M), out
        assert re.search(rf"target <= 2x in-process e2e time: {label} (holds|MISSED)", out), out
    assert "N=3" in out
