"""``?waitMs=`` long polls answer promptly when *another* coordinator commits the change.

A client behind a load balancer long-polls whichever coordinator it reaches, not necessarily the
one running its execution. The execution here runs on A (submitted there, created leased to A);
B is asked to wait for it to park and for its result. B learns of A's commits only through the
shared store, so it must look there while it waits, not only at its own commits (before the
fix, B answered only when ``waitMs`` ran out).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ha.cluster import RESTAURANT, SLOW
from tests.ha.conftest import StartCluster
from tests.ha.slow_pipeline import AWAIT_STEP_ID, PIPELINE_ID
from tests.ha.test_takeover import release_slow_pipeline

pytestmark = pytest.mark.ha

WAIT_MS = 20_000
STEP_MS = 1_000  # the slow step's length on A
PROMPT_S = 3.0  # STEP_MS plus the store re-read interval, with room to spare


def test_long_poll_sees_another_coordinators_commit(cluster: StartCluster, tmp_path: Path) -> None:
    a, b = (node.client() for node in cluster(2, pipelines=(RESTAURANT, SLOW)))
    release_slow_pipeline(a, [a, b], tmp_path / "build")
    deadline = int(time.time() * 1000) + STEP_MS
    eid = a.submit(PIPELINE_ID, {"n": 7, "deadlineEpochMs": deadline}, idempotency_key="lp-7")[
        "executionId"
    ]

    asked = time.monotonic()
    parked = b.status(eid, wait_ms=WAIT_MS)  # A parks it once the slow step ends
    waited = time.monotonic() - asked
    assert parked["status"] == "WAITING_EXTERNAL", parked
    assert waited < PROMPT_S, f"B answered the park after {waited:.2f} s"

    [interaction] = b.pending(step_id=AWAIT_STEP_ID)
    a.complete({"n": 7, "add": 1}, interaction_id=interaction["interactionId"])  # A resumes it
    asked = time.monotonic()
    done = b.result(eid, wait_ms=WAIT_MS)
    waited = time.monotonic() - asked
    assert done["status"]["status"] == "SUCCEEDED", done
    assert waited < PROMPT_S, f"B answered the result after {waited:.2f} s"
