"""``make demo-ha``, ``make demo-ha-incident`` and ``make demo-ha-recovery`` pass, run as the
Makefile runs them: each starts its own local AWS, coordinator and REST worker processes on free
loopback ports, with its state in a temporary directory (here under the test's ``tmp_path``),
and exits 0 with the outcomes right. A demo stopped halfway stops every process it started; a
failing one says why and keeps its logs. The coordinator's file is the recipe's block.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from demos.restaurant_approval.ha import runner
from demos.restaurant_approval.ha.processes import DemoFailure
from demos.restaurant_approval.ha.recipe import (
    RECIPE_MINIMUM,
    RECIPE_REST_WORKER,
    P,
    coordinator_properties,
)
from demos.restaurant_approval.ha.stack import HaStack

ROOT = Path(__file__).resolve().parents[2]


def demo_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TMPDIR": str(tmp_path),  # the demo's state directory goes here
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def run_demo(module: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list(tmp_path.glob("tpf-*")), "a passing demo removes its state directory"
    return done.stdout


def test_demo_ha_approves_and_declines_on_a_remote_worker(tmp_path: Path) -> None:
    out = run_demo("demos.restaurant_approval.ha.demo", tmp_path)
    assert "pipeline.orchestrator.control-plane.require-remote-worker=true" in out
    assert "tpf bootstrap aws:" in out and "created table tpf_execution" in out
    assert re.search(r"worker \S+ \(tpf worker, pid \d+\) on http:\S+: record HEALTHY", out), out
    assert "results: accepted order -> APPROVED, declined order -> DECLINED" in out
    assert re.search(r"the worker process ran [1-9]\d* step\(s\)", out), out
    assert "worker stopped (SIGTERM: drain, then exit 0); its record is DRAINING" in out
    assert "coordinator stopped (exit 0)" in out
    assert out.rstrip().endswith("demo-ha passed")


def test_demo_ha_incident_retries_a_killed_transition_on_a_new_worker(tmp_path: Path) -> None:
    out = run_demo("demos.restaurant_approval.ha.incident", tmp_path)
    assert "killed with SIGKILL" in out
    assert re.search(r"coordinator: attempt [1-9] failed, errorCode TRANSITION_WORKER_\w+", out)
    assert re.search(r"the held step ran on pids \d+, \d+", out), out
    assert "outcome APPROVED" in out
    assert "== Triage summary" in out
    assert out.rstrip().endswith("demo-ha-incident passed")


def test_demo_ha_recovery_finishes_parked_executions_after_kill_9(tmp_path: Path) -> None:
    out = run_demo("demos.restaurant_approval.ha.recovery", tmp_path)
    assert "killed with SIGKILL with 2 executions parked" in out
    assert out.count("still WAITING_EXTERNAL at step 2") == 2, out
    assert "ran on the new worker" in out
    assert "results after the restarts: APPROVED, DECLINED" in out
    assert out.rstrip().endswith("demo-ha-recovery passed")


def test_a_demo_stopped_halfway_stops_its_processes(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "demos.restaurant_approval.ha.demo"],
        cwd=ROOT,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        seen = []
        for line in demo.stdout:  # blocks until the demo prints (or exits: EOF)
            seen.append(line)
            found = re.search(r"coordinator \(tpf serve, pid (\d+)\) ready", line)
            if found:
                break
        assert found, "".join(seen)
        demo.send_signal(signal.SIGTERM)
        rest = demo.communicate(timeout=60)[0]
    finally:
        demo.kill()
        demo.wait(timeout=10)
    assert demo.returncode == 128 + signal.SIGTERM, "".join(seen) + rest
    assert processes_naming(tmp_path) == [], "the demo left processes running"


def processes_naming(path: Path) -> list[str]:
    """The command lines of running processes that mention ``path`` (the demo's children name
    their configuration files, which are under it)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if str(path) in text:
            found.append(text)
    return found


def test_a_failing_demo_exits_1_with_the_reason_and_keeps_its_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    previous = signal.getsignal(signal.SIGTERM)  # run_demo installs its own handler

    def body(stack: HaStack) -> None:
        raise DemoFailure("the worker never registered")

    try:
        assert runner.run_demo("demo-x", "a demo that fails", body) == 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    out = capsys.readouterr().out
    assert "demo-x FAILED: the worker never registered" in out
    [state] = tmp_path.glob("tpf-demo-x-*")
    assert f"coordinator: {state / 'coordinator.log'}" in out  # where to look, still there
    assert (state / "coordinator.properties").is_file()


def test_the_coordinator_file_is_the_recipe_block_with_each_key_set_once() -> None:
    text = coordinator_properties("http://127.0.0.1:4566", "http://127.0.0.1:8181")
    keys = [line.partition("=")[0] for line in text.splitlines()]
    assert len(keys) == len(set(keys)), "a key set twice would depend on which line wins"
    recipe = [line.partition("=")[0] for line in (RECIPE_MINIMUM + RECIPE_REST_WORKER).split()]
    assert keys[: len(recipe)] == recipe  # the recipe's lines, in the recipe's order
    values = dict(line.split("=", 1) for line in text.splitlines())
    assert values[P + "control-plane.require-remote-worker"] == "true"
    assert values[P + "worker.rest.base-url"] == "http://127.0.0.1:8181"
    assert values[P + "worker.rest.shared-secret-ref"] == "env:TPF_WORKER_SECRET"
    assert values[P + "retry-delay"] == "PT1S"  # one of the printed DEMO_CHANGES
    assert values[P + "sqs.endpoint-override"] == "http://127.0.0.1:4566"
