"""The recipe's "Manual Upgrade And Drain", run step by step against real processes.

One coordinator with the recipe's minimum block (``require-remote-worker=true``) on the session's
moto server, and ``tpf worker`` processes of the restaurant pipeline: release ``v1`` serves and
executions park on it; then, in the recipe's order:

1. deploy workers that host the new release (``--pipeline ...@v2``, another port);
2. they register themselves for the new release;
3. register and activate ``v2``;
4. a canary submission runs on ``v2`` (and only there) and completes;
5. the ``v1`` worker is marked draining (admin drain);
6. executions pinned to ``v1`` are completed and finish ON the ``v1`` worker, while new ones
   run on ``v2``;
7. the ``v1`` worker is stopped only once status queries show no ``v1`` execution active.

Which worker ran a transition is read from the workers' own logs (their ``step.start`` lines
name the execution and the step), so "finished on v1" is what the processes did, not what the
coordinator believes. A worker refuses a command pinned to a release it does not host, so a
``v1`` execution cannot have run its resumed step anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demos.restaurant_approval import flows
from demos.restaurant_approval.ha.runner import transitions_run
from demos.restaurant_approval.ha.stack import PIPELINE_REF, HaStack, Worker, free_port
from demos.restaurant_approval.pipeline import PIPELINE_ID
from tpf.client.rest import RestClient

pytestmark = pytest.mark.ha

FINALIZE_STEP = 3  # the step after the await: the resumed transition


@pytest.fixture
def stack(ha_endpoint: str, tmp_path: Path) -> Iterator[HaStack]:
    stack = HaStack(tmp_path, ha_endpoint)
    try:
        stack.bootstrap()
        stack.start_coordinator()
        yield stack
    finally:
        stack.stop_all()


def park(client: RestClient, customer: str) -> str:
    eid = flows.submit_order(client, customer, "Upgrade Diner", "Pancakes")
    status = flows.wait_for(client, eid, {"WAITING_EXTERNAL"})
    assert status["status"] == "WAITING_EXTERNAL", status
    return eid


def finish(client: RestClient, eid: str) -> None:
    flows.complete(client, flows.pending_for(client, eid), "accepted")
    final = flows.wait_for(client, eid, flows.TERMINAL)
    assert final["status"] == "SUCCEEDED", final
    assert flows.outcome(client, eid) == "APPROVED"


def resumed_on(worker: Worker, eid: str) -> bool:
    """Whether ``worker`` ran the execution's step after the await."""
    return any(f"step={FINALIZE_STEP} " in line for line in transitions_run(worker, eid))


def test_manual_upgrade_and_drain(stack: HaStack) -> None:
    client = stack.client()
    v1 = stack.worker("restaurant-worker-v1", f"{PIPELINE_REF}@v1")
    assert stack.release(f"{PIPELINE_REF}@v1", "v1")["releaseVersion"] == "v1"
    assert stack.start_worker(v1)["releaseVersion"] == "v1"
    pinned_to_v1 = [park(client, "Ada Lovelace"), park(client, "Grace Hopper")]

    # 1-2. Deploy a worker hosting the new release; it registers itself for v2.
    v2 = stack.worker("restaurant-worker-v2", f"{PIPELINE_REF}@v2", port=free_port())
    record = stack.start_worker(v2)
    assert (record["releaseVersion"], record["endpoint"]) == ("v2", v2.url), record
    # 3. Register and activate v2: new executions are pinned to it.
    active = stack.release(f"{PIPELINE_REF}@v2", "v2")
    assert (active["releaseVersion"], active["status"]) == ("v2", "ACTIVE"), active
    assert client.active_release(PIPELINE_ID)["releaseVersion"] == "v2"

    # 4. Canary on v2: it runs on the v2 worker only.
    canary = park(client, "Katherine Johnson")
    finish(client, canary)
    assert resumed_on(v2, canary) and not transitions_run(v1, canary)

    # 5. Mark the old worker draining: no new submission counts on it.
    drained = client.drain_worker(PIPELINE_ID, v1.worker_id)
    assert drained["state"] == "DRAINING", drained
    states = {r["workerId"]: r["state"] for r in client.list_workers(PIPELINE_ID)}
    assert states == {v1.worker_id: "DRAINING", v2.worker_id: "HEALTHY"}, states
    after_drain = park(client, "Dorothy Vaughan")  # new work keeps flowing, on v2
    assert transitions_run(v2, after_drain) and not transitions_run(v1, after_drain)

    # 6. The executions pinned to v1 finish on the (draining) v1 worker, not on v2.
    for eid in pinned_to_v1:
        finish(client, eid)
        assert resumed_on(v1, eid), v1.log()
        assert not transitions_run(v2, eid), v2.log()

    # 7. Status queries show no v1 execution active: only now stop the v1 worker.
    assert all(client.status(eid)["status"] in flows.TERMINAL for eid in pinned_to_v1)
    assert v1.stop() == 0, v1.log()
    finish(client, after_drain)  # v2 serves on without it
    assert resumed_on(v2, after_drain)
