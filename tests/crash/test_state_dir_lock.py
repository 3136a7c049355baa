"""One ``tpf serve`` per state directory, and what that buys after a crash (issue 7, defect 3).

Real processes, as an operator runs them: a second ``tpf serve`` on a state directory in use
fails at startup naming the directory and the holder's pid; a coordinator restarted after
SIGKILL holds the lock, so it takes over the executions its dead predecessor was running at
once instead of waiting out their 30 s leases.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from demos.restaurant_approval.server import ROOT, DemoServer, free_port, tpf_command
from tests.crash.blocking_pipeline import PIPELINE_ID

BLOCKING = "tests.crash.blocking_pipeline:pipeline"
LEASE_MS = 30_000  # without the takeover, a restart would wait this long
RESUME_WITHIN_S = 2.0


def server(state_dir: Path, pipeline: str = BLOCKING) -> DemoServer:
    return DemoServer(
        state_dir,
        free_port(),
        extra_env={"PIPELINE_ORCHESTRATOR_LEASE_MS": str(LEASE_MS)},
        pipelines=(pipeline,),
    )


def wait_for_file(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout_s}s"
        time.sleep(0.02)  # the step's side effect is a file: polling it is the only channel


def test_a_second_serve_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    first = server(tmp_path / "state")
    first.start()
    try:
        second = subprocess.run(
            tpf_command("serve", "--pipeline", BLOCKING, "--port", str(free_port())),
            cwd=ROOT,
            env=first.environment(),
            capture_output=True,
            text=True,
            timeout=30,  # it must exit at startup, not serve
        )
        assert second.returncode == 1, second.stderr
        [line] = second.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith("tpf serve: state directory "), line
        assert str((tmp_path / "state").resolve()) in line
        assert first.process is not None and f"pid {first.process.pid}" in line
        assert first.client().ready()  # the first one is unharmed
    finally:
        first.stop()


def test_restart_after_sigkill_takes_over_running_executions_at_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    marker = tmp_path / "step-started"
    first = server(state)
    first.start()
    try:
        built = subprocess.run(
            tpf_command("release", "build", "--pipeline", BLOCKING, "--output", str(tmp_path)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        client = first.client()
        release = client.register_release(PIPELINE_ID, built.stdout.strip())
        client.activate_release(PIPELINE_ID, release["releaseVersion"])
        execution_id = client.submit(PIPELINE_ID, {"marker": str(marker)})["executionId"]
        wait_for_file(marker, 30.0)  # the step runs: the execution is leased for 30 s
        assert client.status(execution_id)["status"] == "RUNNING"
    finally:
        first.kill()

    restarted = server(state)
    restarted.start()
    try:
        ready = time.monotonic()
        status = restarted.client().status(execution_id, wait_ms=int(RESUME_WITHIN_S * 1000))
        assert status["status"] == "SUCCEEDED", (status, restarted.log())
        assert time.monotonic() - ready < RESUME_WITHIN_S
        assert "reclaimed 1 execution(s) leased by a previous coordinator" in restarted.log()
    finally:
        restarted.stop()
