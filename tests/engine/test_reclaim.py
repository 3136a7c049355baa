"""A coordinator restarted on its locked state directory takes over its predecessor's leases.

The lock proves the predecessor is dead, so its executions that were mid-transition need not
wait out ``lease-ms`` (issue 7, defect 3); ``tests/crash/test_state_dir_lock.py`` shows the
same with a real SIGKILL.
"""

from __future__ import annotations

from pathlib import Path

from tests.engine.harness import TENANT, make_harness
from tests.engine.pipelines import BLOCKING_ID, blocking_pipeline
from tests.engine.support import STORE_OVERRIDES
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionStatus
from tpf.stores.factory import open_stores


async def test_restart_takes_over_the_dead_coordinators_leases_at_once(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, **STORE_OVERRIDES["sqlite"], execution__lease_ms=30_000)
    pipeline, gate = blocking_pipeline()
    await h.release(pipeline)
    eid = (await h.coordinator.submit(TENANT, BLOCKING_ID, {"value": "v"})).execution_id
    await gate.entered.wait()
    dead_owner = h.coordinator.engine.owner
    await h.coordinator.close()  # the process is gone; its lease is still in the store
    settings = h.coordinator.settings

    restarted = Coordinator(settings, await open_stores(settings), clock=h.clock)
    try:
        restarted.host(pipeline)
        gate.release.set()  # the re-run is instant
        before = await restarted.status(TENANT, eid)
        assert before.status is ExecutionStatus.RUNNING and before.lease_owner == dead_owner
        assert await restarted.sweeper.tick() == 0  # the lease has 30 s to go
        assert await restarted.reclaim_leases() == 1
        assert await restarted.sweeper.tick() == 1  # due now, without the clock moving
        done = await restarted.wait_for(TENANT, eid, [ExecutionStatus.SUCCEEDED], timeout_s=5)
        assert done.status is ExecutionStatus.SUCCEEDED
        assert done.version == before.version + 2  # one takeover claim, one commit
    finally:
        await restarted.close()
