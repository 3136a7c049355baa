"""Crash survival of the embedded default: SIGKILL a coordinator mid-flight, restart, finish.

A coordinator subprocess on SQLite is killed while executions are running (a slow first step)
and parked (waiting on an await); a second one on the same files must finish every accepted
execution with the right result, and the commit log of both processes must show no transition
committed twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.crash.child import expected_total

ROOT = Path(__file__).resolve().parents[2]
COUNT = 30


def spawn(*args: str, module: str = "tests.crash.child") -> subprocess.Popen[str]:
    """A crash-test child (``python -m module args``), its output piped as text."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_loses_no_accepted_execution(tmp_path: Path) -> None:
    first = spawn("run", str(tmp_path), str(COUNT))
    try:
        assert first.stdout is not None
        line = first.stdout.readline()  # blocks until READY (or EOF if the child died)
        assert line.strip() == "READY", first.stderr.read() if first.stderr else line
        before = {r.split()[0] for r in (tmp_path / "accepted.txt").read_text().splitlines()}
        assert len(before) == COUNT
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(timeout=10)

    second = spawn("recover", str(tmp_path))
    out, err = second.communicate(timeout=90)
    assert second.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])

    assert set(summary) == before
    for eid, row in summary.items():
        assert row["status"] == "SUCCEEDED", (eid, row)
        assert row["total"] == expected_total(row["n"]), (eid, row)
        assert row["pending"] == 0

    commits: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for raw in (tmp_path / "commits.log").read_text().splitlines():
        entry = json.loads(raw)
        commits[entry["id"]].append((entry["v"], entry["s"]))
    for eid, history in commits.items():
        versions = [v for v, _ in history]
        assert versions == sorted(set(versions)), f"{eid} committed a version twice: {history}"
        statuses = [s for _, s in history]
        assert statuses.count("WAITING_EXTERNAL") <= 1, history
        assert statuses.count("SUCCEEDED") <= 1, history
