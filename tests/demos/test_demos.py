"""The README's demos pass, run exactly as ``make demo`` / ``make incident`` / ``make recovery``
run them (each against its own ``tpf serve`` on a free port and a fresh state directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from demos.restaurant_approval.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def run_demo(module: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "TPF_STATE_DIR": str(tmp_path / "state"),
        "TPF_HTTP_PORT": str(free_port()),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_make_demo_approves_and_declines(tmp_path: Path) -> None:
    out = run_demo("demos.restaurant_approval.demo", tmp_path)
    assert "results: accepted order -> APPROVED, declined order -> DECLINED" in out
    assert "demo passed" in out


def test_incident_demo_fails_redrives_and_prints_triage(tmp_path: Path) -> None:
    out = run_demo("demos.restaurant_approval.incident", tmp_path)
    assert "coordinator log: Execution moved to DLQ:" in out or "Execution moved to DLQ" in out
    assert "== Triage summary" in out
    assert "refused: INTERACTION_ALREADY_COMPLETED" in out
    assert "corrected answer: APPROVED" in out
    assert "incident demo passed" in out


def test_recovery_demo_survives_kill_9(tmp_path: Path) -> None:
    out = run_demo("demos.restaurant_approval.recovery", tmp_path)
    assert "coordinator killed with SIGKILL" in out
    assert "result after the restart: APPROVED" in out


@pytest.mark.parametrize("again", [False, True])
def test_in_process_demo(tmp_path: Path, again: bool) -> None:
    """The Python-API variant, twice on the same state: re-running is idempotent."""
    out = run_demo("demos.restaurant_approval.inprocess", tmp_path)
    if again:
        out = run_demo("demos.restaurant_approval.inprocess", tmp_path)
    assert "demo passed" in out
