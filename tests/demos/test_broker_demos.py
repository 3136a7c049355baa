"""``make demo-sqs`` and ``make demo-kafka`` pass, run as the Makefile runs them: each demo
starts its own broker (moto's SQS / Tansu), ``tpf serve`` with the await transport switched by
environment, and the restaurant responder, and exits 0 with both outcomes right.

How a demo fails when its coordinator cannot start is checked too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from demos.restaurant_approval.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def run_demo(lane: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        # A real broker in the environment would turn the demo to it; these tests want theirs.
        **{k: v for k, v in os.environ.items() if not k.startswith(("TPF_AWAIT_", "KAFKA_"))},
        "TPF_STATE_DIR": str(tmp_path / "state"),
        "TPF_HTTP_PORT": str(free_port()),
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "demos.restaurant_approval.broker_demo", lane],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.parametrize("lane", ["sqs", "kafka"])
def test_broker_demo_approves_and_declines(lane: str, tmp_path: Path) -> None:
    done = run_demo(lane, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "results: accepted order -> APPROVED, declined order -> DECLINED" in done.stdout
    assert f"{lane} demo passed" in done.stdout
    # The decisions came over the broker: the responder answered both awaits.
    log = (tmp_path / "state" / f"demo-{lane}" / f"responder-{lane}.log").read_text()
    assert log.count("answered ") == 2, log


def test_a_coordinator_that_cannot_start_fails_the_demo_saying_why(tmp_path: Path) -> None:
    # A coordinator that refuses its configuration: the demo must say so and fail.
    done = run_demo("sqs", tmp_path, PIPELINE_ORCHESTRATOR_MAX_RETRIES="lots")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sqs demo FAILED: tpf serve did not start with TPF_AWAIT_TRANSPORT=sqs" in done.stdout
    assert "pipeline.orchestrator.max-retries: expected an integer" in done.stdout


def test_unknown_lane_is_a_usage_error(tmp_path: Path) -> None:
    done = run_demo("rabbitmq", tmp_path)
    assert done.returncode == 2
    assert "usage: python -m demos.restaurant_approval.broker_demo sqs|kafka" in done.stdout
