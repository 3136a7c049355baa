"""A long poll on shared state (DynamoDB) re-reads the store at 0.1 s unless this process's own
commit is due to wake it: while it holds the execution's lease, and from the moment its awaits
supervisor hands the actor a resolution until the actor's next commit (else a parked execution,
which no one holds, was re-read at 0.1 s after every completion while it resumed). The same hint
tells a settled long poll that a parked execution is resuming without reading its interaction."""

from __future__ import annotations

from typing import Any

from tests.engine.harness import TENANT, TERMINAL, Harness
from tpf.actors import context


async def test_a_handed_resolution_marks_the_execution_woken_here_until_its_commit(
    h: Harness,
) -> None:
    c = h.coordinator
    eid = await h.submit()
    parked = await h.settle(eid)
    assert parked.lease_owner is None
    assert not c.woken_here(parked)  # parked, held by no one: re-read at 0.1 s
    c.engine.resuming(TENANT, eid)  # what the awaits supervisor does as it tells the actor
    assert c.woken_here(parked)
    c.engine.committed(parked)  # the actor's next commit clears the hint
    assert not c.woken_here(parked)


async def test_the_completion_notes_the_resume_and_its_commit_clears_it(h: Harness) -> None:
    c = h.coordinator
    eid = await h.submit()
    parked = await h.settle(eid)
    noted: list[tuple[str, str]] = []
    resuming = c.engine.resuming

    def spy(tenant_id: str, execution_id: str) -> None:
        noted.append((tenant_id, execution_id))
        resuming(tenant_id, execution_id)

    c.engine.resuming = spy  # type: ignore[method-assign]
    assert parked.await_interaction_id is not None
    task = await c.interaction(TENANT, parked.await_interaction_id)
    await c.complete(
        TENANT,
        interaction_id=task.interaction_id,
        response={"accepted": {"orderId": task.request_payload["orderId"]}},
    )
    done = await c.wait_for(TENANT, eid, TERMINAL, timeout_s=10)
    assert noted == [(TENANT, eid)]
    assert done.terminal and (TENANT, eid) not in c.engine.resuming_here


def test_the_hints_are_bounded(h: Harness) -> None:
    engine = h.coordinator.engine
    for i in range(context._RESUMING_MAX + 10):
        engine.resuming(TENANT, f"e{i}")
    assert len(engine.resuming_here) == context._RESUMING_MAX
    assert (TENANT, "e0") not in engine.resuming_here  # the oldest go first


async def test_a_settled_long_poll_knows_a_resume_handed_here_without_reading(
    h: Harness,
) -> None:
    c = h.coordinator
    eid = await h.submit()
    parked = await h.settle(eid)
    reads: list[str] = []
    get = c.stores.awaits.get

    async def counted(tenant_id: str, interaction_id: str) -> Any:
        reads.append(interaction_id)
        return await get(tenant_id, interaction_id)

    c.stores.awaits.get = counted  # type: ignore[method-assign]
    assert not await c._resuming(parked)  # pending: read, and not resuming
    assert reads == [parked.await_interaction_id]
    c.engine.resuming(TENANT, eid)
    assert await c._resuming(parked)  # handed here: known without a read
    assert reads == [parked.await_interaction_id]
