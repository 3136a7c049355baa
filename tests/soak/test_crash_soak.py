"""Crash soak (``make soak``, marked slow): SIGKILL the coordinator at random moments, many times.

Each round runs the crash child (tests/crash/child.py) on a fresh SQLite state directory and
kills it after a random delay, wherever it is (mid-submit, mid-transition, parked, completing),
then recovers on the same files and checks what the crash test checks: every accepted
execution finishes with the right result and no version was committed twice.
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest

from tests.crash.child import expected_total
from tests.crash.test_crash_survival import spawn

ROUNDS = 12


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_random_sigkill_loses_nothing(tmp_path: Path, round_no: int) -> None:
    rng = random.Random(round_no)
    first = spawn("run", str(tmp_path), "40")
    accepted_file = tmp_path / "accepted.txt"
    deadline = time.monotonic() + 60
    while not (accepted_file.exists() and accepted_file.read_text()):
        assert first.poll() is None, "the coordinator died before accepting anything"
        assert time.monotonic() < deadline, "no submission accepted within 60 s"
        time.sleep(0.01)  # a subprocess's file is the only channel
    # The random moment is the thing under test: a kill anywhere must lose nothing.
    time.sleep(rng.uniform(0.0, 2.0))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    accepted = accepted_file.read_text().splitlines()
    second = spawn("recover", str(tmp_path))
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {line.split()[0] for line in accepted}
    for eid, row in summary.items():
        assert row["status"] == "SUCCEEDED", (eid, row)
        assert row["total"] == expected_total(row["n"]), (eid, row)
    seen: dict[str, list[int]] = {}
    for raw in (tmp_path / "commits.log").read_text().splitlines():
        entry = json.loads(raw)
        seen.setdefault(entry["id"], []).append(entry["v"])
    for eid, versions in seen.items():
        assert versions == sorted(set(versions)), f"{eid} committed a version twice: {versions}"
