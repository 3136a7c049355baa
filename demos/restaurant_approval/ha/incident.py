"""``make demo-ha-incident``: a REST worker SIGKILLed mid-transition; the execution still finishes.

The HA shape of ``make demo-ha`` (local AWS, one coordinator with the recipe's minimum block, one
REST worker), with the worker hosting :mod:`demos.restaurant_approval.ha.gated`: the restaurant
pipeline whose "Create Pending Approval" holds on its first run. An order is submitted; once the
worker is inside that step (its run is logged), the worker is killed with SIGKILL. The
coordinator's call fails, which is a *retryable* transition failure: the execution shows
``WAIT_RETRY`` with its ``attempt`` and ``errorCode`` (the evidence is printed). A replacement
worker process is started at the same address (as a restarted container would be; the demo
backs off from ``retry-delay=PT2S`` so the recipe's three retries give it 14 s); the retry
runs the transition again there, the execution parks on the restaurant's decision, the decision
completes it, and the order ends ``APPROVED``. Nothing is committed twice: the killed transition
never committed, and the execution's ``version`` goes up once per committed change.

Run: ``python -m demos.restaurant_approval.ha.incident``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from demos.restaurant_approval import flows
from demos.restaurant_approval.ha.gated import GATE_ENV, HELD_STEP, RUNS_LOG
from demos.restaurant_approval.ha.processes import DemoFailure
from demos.restaurant_approval.ha.runner import WORKER_NAME, bring_up, run_demo, transitions_run
from demos.restaurant_approval.ha.stack import HaStack
from tpf.client import RestClient

GATED_REF = "demos.restaurant_approval.ha.gated:pipeline"
# The retries (the recipe's max-retries=3) must outlast a replacement worker's start on a busy
# machine: backing off 2, 4, 8 s gives it 14 s.
CHANGES = {
    "pipeline.orchestrator.retry-delay": ("PT2S", "room for the replacement worker to start"),
}
say = flows.say


def runs(gate: Path) -> list[tuple[str, int]]:
    """``(orderId, worker pid)`` of each run of the held step so far."""
    path = gate / RUNS_LOG
    lines = path.read_text().splitlines() if path.exists() else []
    return [(order, int(pid)) for order, pid in (line.split() for line in lines)]


def wait_runs(gate: Path, count: int, timeout_s: float = 30.0) -> list[tuple[str, int]]:
    """Until the held step has run ``count`` times (the file is the only channel to it)."""
    deadline = time.monotonic() + timeout_s
    while len(found := runs(gate)) < count:
        if time.monotonic() > deadline:
            raise DemoFailure(f"the held step ran {len(found)} time(s), not {count}")
        time.sleep(0.05)
    return found


def wait_failed_attempt(client: RestClient, eid: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll the status until it records a failed attempt (an ``errorCode``). Short polls: a
    long poll wakes on a park or an end, not on a retry being scheduled."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = client.status(eid, wait_ms=250)
        if status["errorCode"] or status["status"] in flows.TERMINAL:
            return status
        if time.monotonic() > deadline:
            raise DemoFailure(f"execution {eid} shows no failed attempt: {status}")


def body(stack: HaStack) -> None:
    gate = stack.state_dir / "gate"
    gate.mkdir()
    _active, first = bring_up(stack, GATED_REF, worker_env={GATE_ENV: str(gate)})
    client = stack.client()

    say("\n== Kill the worker mid-transition")
    eid = flows.submit_order(client, "Katherine Johnson", "Crash Kitchen", "Soup")
    [(order_id, pid)] = wait_runs(gate, 1)
    running = client.status(eid)
    say(
        f"  worker pid {pid} is inside {HELD_STEP!r} for order {order_id} "
        f"(execution {running['status']}, version {running['version']})"
    )
    first.kill()
    say(f"  worker {first.worker_id} (pid {pid}) killed with SIGKILL")
    failed = wait_failed_attempt(client, eid)
    if failed["status"] in flows.TERMINAL:
        raise DemoFailure(f"the execution ended {failed['status']} instead of retrying: {failed}")
    say(
        f"  coordinator: attempt {failed['attempt']} failed, errorCode {failed['errorCode']} "
        f"(status {failed['status']})"
    )
    say(f"  errorMessage: {failed['errorMessage']}")

    say("\n== Start a replacement worker")
    replacement = stack.worker(WORKER_NAME, GATED_REF, extra_env={GATE_ENV: str(gate)})
    record = stack.start_worker(replacement)
    say(
        f"  worker {record['workerId']} (pid {replacement.pid}) on {replacement.url}: "
        f"{record['state']}"
    )
    parked = flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
    if parked["status"] != "WAITING_EXTERNAL":
        raise DemoFailure(f"the retried transition did not park: {parked}")
    again = runs(gate)
    say(
        f"  retried: {parked['status']} at step {parked['stepIndex']} after attempt "
        f"{parked['attempt']}; the held step ran on pids {', '.join(str(p) for _, p in again)}"
    )
    flows.complete(client, flows.pending_for(client, eid), "accepted")
    final = flows.wait_for(client, eid, flows.TERMINAL)
    result = flows.outcome(client, eid)
    on_replacement = transitions_run(replacement, eid)
    say(
        f"  status {final['status']} version {final['version']}: outcome {result}; "
        f"{len(on_replacement)} step(s) of it ran on the replacement"
    )
    triage(eid, failed, final, pid, replacement.pid)
    if result != "APPROVED" or again[-1][1] != replacement.pid or pid == replacement.pid:
        raise DemoFailure(f"expected APPROVED after a re-run on the replacement: {result}, {again}")


def triage(
    eid: str, failed: dict[str, Any], final: dict[str, Any], killed: int, replacement: int
) -> None:
    say("\n== Triage summary")
    say(f"  execution      {eid}")
    say(f"  failure        {failed['errorCode']} (retryable) at attempt {failed['attempt']}")
    say(f"  workers        pid {killed} killed mid-transition, pid {replacement} finished it")
    say(f"  final          {final['status']} at version {final['version']}")
    say("  operator       nothing to re-drive: the retry policy recovered it")


def main() -> int:
    return run_demo(
        "demo-ha-incident",
        "a REST worker SIGKILLed mid-transition; the execution finishes",
        body,
        CHANGES,
    )


if __name__ == "__main__":
    sys.exit(main())
