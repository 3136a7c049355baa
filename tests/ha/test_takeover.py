"""Takeover: SIGKILL a coordinator holding leases on running transitions; survivors finish.

Three coordinators host the slow pipeline (``tests/ha/slow_pipeline.py``) with
``lease-ms=3000`` and ``sweep-interval=PT1S``. Executions submitted to coordinator A are
created leased to A and start their slow first step there at once (it runs until the test
opens a gate file named in the input). While they are RUNNING, A is killed with SIGKILL and the
gate is opened. A survivor's sweeper finds each one through the due index once A's lease
expires and claims it (its ``version`` goes up: that is "resumed"); the re-run of the slow step
is instant (the gate is open), the execution parks, and a completion through a survivor
finishes it.

Kill-to-resume is at most the rest of A's lease (< 3 s, A was killed early in it) plus one
sweep interval (1 s) plus a claim; it must stay under 5 s.

Versions: v1 created leased to A, v2 claimed by a survivor (exactly one takeover: the other
survivor's claim of the same version is refused), v3 parked, v5 resumed and claimed, v6
SUCCEEDED. Anything else would mean a transition committed twice.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ha.cluster import RESTAURANT, ROOT, SLOW, child_env, poll, tpf
from tests.ha.conftest import StartCluster
from tests.ha.slow_pipeline import AWAIT_STEP_ID, PIPELINE_ID
from tpf.client.rest import RestClient

pytestmark = pytest.mark.ha

COUNT = 4
GATE_LIMIT_MS = 120_000  # the gated slow step gives up waiting after this long
MAX_KILL_TO_RESUME_S = 5.0
TAKEN_OVER_VERSION = 6


def release_slow_pipeline(admin: RestClient, clients: list[RestClient], build: Path) -> None:
    """``tpf release build``, register and activate once, one worker record per coordinator."""
    built = subprocess.run(
        tpf("release", "build", "--pipeline", SLOW, "--output", str(build)),
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    release = admin.register_release(PIPELINE_ID, built.stdout.strip())
    active = admin.activate_release(PIPELINE_ID, release["releaseVersion"])
    for i, client in enumerate(clients, start=1):
        client.register_worker(
            PIPELINE_ID,
            workerId=f"slow-worker-{i}",
            contractVersion=active["contractVersion"],
            releaseVersion=active["releaseVersion"],
            protocol="local",
            endpoint="in-process",
            artifactId=active["primaryArtifactId"],
            artifactDigest=active["primaryArtifactDigest"],
        )


def test_takeover_after_sigkill(
    cluster: StartCluster, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    nodes = cluster(3, pipelines=(RESTAURANT, SLOW), lease_ms=3_000, sweep_interval="PT1S")
    a, b, c = nodes
    clients = [node.client() for node in nodes]
    release_slow_pipeline(clients[0], clients, tmp_path / "build")
    survivor_b, survivor_c = clients[1], clients[2]

    gate = tmp_path / "gate"  # the slow step runs until this file exists
    job = {"deadlineEpochMs": int(time.time() * 1000) + GATE_LIMIT_MS, "gate": str(gate)}
    ids = [
        clients[0].submit(PIPELINE_ID, {"n": n, **job}, idempotency_key=f"slow-{n}")["executionId"]
        for n in range(COUNT)
    ]
    # Running on A, as another coordinator sees it in the shared store.
    at_kill = {eid: survivor_b.status(eid) for eid in ids}
    for eid, status in at_kill.items():
        assert status["status"] == "RUNNING", (eid, status)

    a.kill()
    gate.touch()  # the survivors' re-runs of the slow step end at once
    killed = time.monotonic()
    killed_at_ms = time.time() * 1000
    versions = {eid: at_kill[eid]["version"] for eid in ids}
    resumed: dict[str, float] = {}
    while len(resumed) < COUNT:  # GET on a survivor (no long poll: the claim is a version bump)
        for eid in ids:
            if eid not in resumed and survivor_b.status(eid)["version"] > versions[eid]:
                resumed[eid] = time.monotonic() - killed
        late = set(ids) - set(resumed)
        assert time.monotonic() - killed < 30, f"not taken over after 30 s: {late}"
        # Measuring when a survivor takes over needs sampling its store view; the 20 ms
        # sampling period bounds the measurement error, it synchronises nothing.
        time.sleep(0.02)
    worst = max(resumed.values())
    # A's leases expire at their nextDueEpochMs: the rest is the survivors' detection + claim.
    lease_left = max(s["nextDueEpochMs"] for s in at_kill.values()) - killed_at_ms
    record_property("kill_to_resume_s", round(worst, 3))
    print(
        f"kill-to-resume: {worst:.2f} s (A's leases had {lease_left / 1000:.2f} s left; "
        f"each: {sorted(round(s, 2) for s in resumed.values())})"
    )

    for eid in ids:
        parked = poll(
            lambda eid=eid: survivor_c.status(eid, wait_ms=5_000),
            lambda s: s["status"] != "RUNNING" and s["status"] != "QUEUED",
            timeout_s=30,
            what=f"{eid} to park",
        )
        assert parked["status"] == "WAITING_EXTERNAL", parked
    pending = {p["executionId"]: p for p in survivor_b.pending(step_id=AWAIT_STEP_ID)}
    assert set(pending) == set(ids)
    results: dict[str, Any] = {}
    for n, eid in enumerate(ids):
        client = (survivor_b, survivor_c)[n % 2]
        client.complete({"n": n, "add": 100}, interaction_id=pending[eid]["interactionId"])
        done = poll(
            lambda eid=eid, client=client: client.result(eid, wait_ms=2_000),
            lambda r: r["status"]["status"] in ("SUCCEEDED", "FAILED", "DLQ"),
            timeout_s=30,
            what=f"{eid} to finish",
        )
        results[eid] = done
        assert done["status"]["status"] == "SUCCEEDED", done
        assert json.loads(done["resultPayload"]["payload"]) == {"n": n, "total": n + 100}
        assert done["status"]["version"] == TAKEN_OVER_VERSION, done["status"]
    assert survivor_c.pending(step_id=AWAIT_STEP_ID) == []
    assert worst < MAX_KILL_TO_RESUME_S, f"kill-to-resume {worst:.2f} s"
    assert b.process is not None and b.process.poll() is None
    assert c.process is not None and c.process.poll() is None
