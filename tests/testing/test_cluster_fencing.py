"""Fencing across several coordinators on one store, with skewed clocks and a partition.

The lease margin (README "Several coordinators, skew and partitions"): a holder renews when
``f = lease_renew_fraction`` of its lease has passed, checked every ``k = lease_ms * f / 2``
(the keeper's interval), so in the worst phase a renewal lands ``lease_ms * f + k`` after the
previous one; a peer whose clock runs ``skew`` ahead sees the lease expire ``lease_ms - skew``
after it was written. No takeover of a live holder while
``skew < lease_ms * (1 - f) - k = lease_ms * (1 - 1.5 f)``: 7.5 s for the default 30 s lease.
Beyond it a live holder's execution is taken over (duplicate *work*: the step runs twice), but
the version fence still refuses the stale commit, so no transition is applied twice.
"""

from __future__ import annotations

import pytest

from tests.engine.pipelines import Gate, blocking_pipeline
from tpf.core.records import ExecutionStatus
from tpf.testing.cluster import Cluster

APPROVED = {"approved": True, "note": "ok"}
LEASE_MS = 30_000
MARGIN_MS = int(LEASE_MS * (1 - 1.5 * 0.5))  # 7_500 at the defaults


async def _hold_in_worst_phase(
    c: Cluster, gate: Gate, skew_ms: int, *, holder_behind: bool = False
) -> str:
    """Node 0 claims one execution whose step blocks; node 1 runs ``skew_ms`` ahead of it (or
    node 0 runs ``skew_ms`` behind the others); node 0's keeper ticks 1 ms before each renewal
    falls due, so every renewal is one keeper interval late."""
    if holder_behind:
        c.node(0).skew_ms = -skew_ms
    else:
        c.node(1).skew_ms = skew_ms
    eid = await c.submit({"value": "v"}, via=0)  # the lease is written on the holder's clock
    await c.settle()
    assert (await c.status(eid)).lease_owner == "node-0"
    keeper = c.node(0)
    keeper.keeper_next_ms = c.clock.now_ms() + keeper.keeper_interval_ms - 1
    return eid


@pytest.mark.parametrize("holder_behind", [False, True])
@pytest.mark.parametrize("skew_ms", [0, 2_500, 5_000, MARGIN_MS])
async def test_skew_up_to_the_margin_never_takes_a_live_lease(
    skew_ms: int, holder_behind: bool
) -> None:
    pipeline, gate = blocking_pipeline()
    async with Cluster(pipeline, nodes=3) as c:
        assert c.lease_ms == LEASE_MS
        eid = await _hold_in_worst_phase(c, gate, skew_ms, holder_behind=holder_behind)
        await c.advance("PT2M")  # four lease lengths with the step still running
        held = await c.status(eid)
        assert (held.lease_owner, held.version, gate.calls) == ("node-0", 1, 1)
        gate.release.set()
        [done] = await c.wait_terminal([eid])
        assert done.status is ExecutionStatus.SUCCEEDED
        assert done.version == 2  # the claim and one commit: nothing taken over
        assert gate.calls == 1


@pytest.mark.parametrize("holder_behind", [False, True])
@pytest.mark.parametrize("skew_ms", [8_000, 12_000])
async def test_skew_beyond_the_margin_duplicates_work_but_not_the_commit(
    skew_ms: int, holder_behind: bool
) -> None:
    pipeline, gate = blocking_pipeline()
    async with Cluster(pipeline, nodes=3) as c:
        eid = await _hold_in_worst_phase(c, gate, skew_ms, holder_behind=holder_behind)
        await c.advance("PT1M")
        taken = await c.status(eid)
        assert taken.lease_owner == "node-1" and taken.version == 2
        assert gate.calls == 2  # the step ran on the live holder and again on node 1
        assert c.node(0).coordinator.engine.counters["leases_lost"] == 1
        assert gate.cancelled == 1  # the holder's renewal failed: its run was cancelled
        gate.release.set()
        [done] = await c.wait_terminal([eid])
        assert done.status is ExecutionStatus.SUCCEEDED
        assert done.version == 3  # claim, takeover, ONE commit: the fence held


async def test_a_partitioned_holders_executions_move_and_its_commits_are_refused() -> None:
    pipeline, gate = blocking_pipeline()
    async with Cluster(pipeline, nodes=3) as c:
        c.node(2).skew_ms = MARGIN_MS  # and a peer skewed to the margin
        eids = [await c.submit({"value": f"v{i}"}, via=0, key=f"k{i}") for i in range(4)]
        await c.settle()
        assert {(await c.status(e)).lease_owner for e in eids} == {"node-0"}
        c.partition(0)
        await c.advance(LEASE_MS + 5_000)
        moved = [await c.status(e, via=1) for e in eids]
        assert all(r.lease_owner in ("node-1", "node-2") and r.version == 2 for r in moved)
        gate.release.set()  # the stale runs finish too: their commits cannot reach the store
        await c.settle()
        assert c.node(0).link.refused > 0
        c.heal(0)
        done = await c.wait_terminal(eids, via=0)
        assert all(r.status is ExecutionStatus.SUCCEEDED for r in done)
        assert all(r.version == 3 for r in done)  # claim, takeover, one commit each
        assert gate.calls == 8  # each step ran on the stale holder and on its successor
        await c.advance("PT1M")  # the healed node finds nothing left to apply
        assert [(await c.status(e, via=0)).version for e in eids] == [3, 3, 3, 3]


async def test_a_healed_holder_that_commits_before_its_keeper_notices_is_fenced() -> None:
    pipeline, gate = blocking_pipeline()
    async with Cluster(pipeline, nodes=2) as c:
        eid = await c.submit({"value": "v"}, via=0)
        await c.settle()
        c.partition(0)
        await c.advance(LEASE_MS + 5_000)
        assert (await c.status(eid, via=1)).lease_owner == "node-1"
        c.heal(0)
        stale = c.node(0).coordinator.engine.counters
        gate.release.set()  # both runs finish now, before node 0's keeper ticks again
        await c.settle()
        assert stale["commits_refused"] == 1  # its commit reached the store and was refused
        done = await c.status(eid)
        assert done.status is ExecutionStatus.SUCCEEDED
        assert done.version == 3 and gate.calls == 2
        assert c.node(1).coordinator.engine.counters["transitions"] == 1


async def test_an_await_answered_via_another_node_resumes_once_with_the_submitter_cut_off() -> None:
    pipeline, gate = blocking_pipeline(with_await=True)
    gate.release.set()  # the first step returns at once; the execution parks on the await
    async with Cluster(pipeline, nodes=3) as c:
        eids = [await c.submit({"value": f"v{i}"}, via=0, key=f"k{i}") for i in range(3)]
        await c.advance("PT1S")
        parked = [(await c.status(e)).status for e in eids]
        assert parked == [ExecutionStatus.WAITING_EXTERNAL] * 3
        c.partition(0)
        c.node(1).skew_ms = MARGIN_MS
        for interaction in await c.pending(via=2):
            done = await c.complete(interaction.interaction_id, APPROVED, via=2)
            assert done.duplicate is False
        await c.advance(LEASE_MS)
        c.heal(0)
        records = await c.wait_terminal(eids, via=1)
        assert [r.status for r in records] == [ExecutionStatus.SUCCEEDED] * 3
        assert all(
            r.result_payload == {"outcome": "APPROVED", "marker": "blocking"} for r in records
        )
        assert gate.calls == 3  # the first step ran once per execution
        assert await c.pending(via=0) == []
