"""A held channel completion survives a coordinator restart on the same SQLite file.

The completion arrives while the transition that will park is still running (its interaction
is not stored yet), so it is held; the coordinator then stops. The next one, on the same state
directory, re-runs the transition, the interaction appears, and the held completion is admitted
from the store: the execution finishes with the answer given before the restart.
"""

from __future__ import annotations

from pathlib import Path

from tests.engine.harness import TENANT, make_harness
from tests.engine.pipelines import APPROVE_STEP, BLOCKING_ID, blocking_pipeline
from tests.engine.support import STORE_OVERRIDES
from tpf.coordinator import Coordinator
from tpf.core import ids
from tpf.core.records import ExecutionStatus
from tpf.stores.factory import open_stores

APPROVED = {"approved": True, "note": "ok"}


async def test_held_completion_is_applied_after_a_restart(tmp_path: Path) -> None:
    h = await make_harness(tmp_path, **STORE_OVERRIDES["sqlite"])
    pipeline, gate = blocking_pipeline(with_await=True)
    await h.release(pipeline)
    c = h.coordinator
    eid = (await c.submit(TENANT, BLOCKING_ID, {"value": "v1"})).execution_id
    await gate.entered.wait()
    interaction_id = ids.interaction_id(TENANT, eid, APPROVE_STEP, 1, 0)
    held = await c.awaits.complete(
        TENANT, interaction_id=interaction_id, response=APPROVED, hold_if_missing=True
    )
    assert held.held is True and c.awaits.held() == 1
    settings = c.settings
    await c.close()  # nothing of the hold is left in this process

    restarted = Coordinator(settings, await open_stores(settings), clock=h.clock)
    try:
        restarted.host(pipeline)
        assert [x.handle for x in await restarted.stores.held.list(10)] == [interaction_id]
        assert await restarted.awaits.retry_held() == 0  # the interaction is still missing
        assert restarted.awaits.held() == 1  # kept, and now known to this process
        gate.release.set()
        assert await restarted.reclaim_leases() == 1  # the dead predecessor's transition
        assert await restarted.sweeper.tick() == 1  # re-runs it: it parks
        waiting = await restarted.wait_for(
            TENANT, eid, [ExecutionStatus.WAITING_EXTERNAL], timeout_s=5
        )
        assert waiting.await_interaction_id == interaction_id
        assert await restarted.awaits.retry_held() == 1  # admitted from the store
        assert restarted.awaits.held() == 0
        assert await restarted.stores.held.list(10) == []  # and deleted
        done = await restarted.wait_for(TENANT, eid, [ExecutionStatus.SUCCEEDED], timeout_s=5)
        assert done.result_payload == {"outcome": "APPROVED", "marker": "blocking"}
    finally:
        await restarted.close()
