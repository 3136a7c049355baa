"""Execution counts by status stay exact (issue 8, break 8): the counts the metrics scrape reads
are kept with every write, so after each step of the lifecycle (submit, park, complete, fail,
re-drive, expiry after retention) they must equal a count of the stored records themselves (a
GROUP BY on SQLite, the records on memory)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.engine.harness import TENANT, TERMINAL, Harness, accepted
from tests.engine.support import wait_until
from tpf.core.errors import NotFound
from tpf.core.records import ExecutionStatus
from tpf.stores.memory import MemoryExecutionStore
from tpf.stores.sqlite import SqliteExecutionStore


async def truth(h: Harness) -> dict[str, int]:
    store = h.coordinator.stores.executions
    if isinstance(store, SqliteExecutionStore):
        rows = await store._db.run(
            lambda conn: conn.execute(
                "SELECT status, COUNT(*) FROM executions GROUP BY status"
            ).fetchall()
        )
        return dict(rows)
    assert isinstance(store, MemoryExecutionStore)
    return dict(Counter(r.status.value for r in store._records.values()))


async def assert_exact(h: Harness, expected: dict[str, int] | None = None) -> None:
    counted = await h.coordinator.stores.executions.count_by_status()
    assert counted == await truth(h)
    if expected is not None:
        assert counted == expected


async def test_counts_follow_every_status_change(h: Harness) -> None:
    c = h.coordinator
    await assert_exact(h, {})

    parked = [await h.submit(key=f"k{i}") for i in range(3)]
    for eid in parked:
        assert (await h.settle(eid)).status is ExecutionStatus.WAITING_EXTERNAL
    await assert_exact(h, {"WAITING_EXTERNAL": 3})

    ok, bad, _ = parked
    interaction = await h.pending_for(ok)
    order_id = interaction.request_payload["orderId"]  # Finalize refuses another order's id
    await c.complete(TENANT, interaction_id=interaction.interaction_id, response=accepted(order_id))
    assert (await h.settle(ok, TERMINAL)).status is ExecutionStatus.SUCCEEDED
    interaction = await h.pending_for(bad)
    await c.complete(
        TENANT, interaction_id=interaction.interaction_id, response=accepted("not-a-uuid")
    )
    failed = await h.settle(bad, TERMINAL)
    assert failed.status is ExecutionStatus.FAILED
    await assert_exact(h, {"WAITING_EXTERNAL": 1, "SUCCEEDED": 1, "FAILED": 1})

    queued = await c.redrive(
        TENANT, bad, expected_version=failed.version, allow_failed=True, reason="again"
    )
    assert queued.status is ExecutionStatus.QUEUED
    await assert_exact(h)  # queued, or already running again
    await wait_until(
        h, bad, lambda r: r.version > queued.version and r.status is ExecutionStatus.FAILED
    )
    await assert_exact(h, {"WAITING_EXTERNAL": 1, "SUCCEEDED": 1, "FAILED": 1})

    # Past retention the finished ones read as absent and are deleted as they are read; the
    # parked one is kept however long it waits.
    h.clock.advance(c.settings.execution.ttl_ms + 1_000)
    for eid in (ok, bad):
        with pytest.raises(NotFound):
            await c.status(TENANT, eid)
    await assert_exact(h, {"WAITING_EXTERNAL": 1})

    # An expired execution's key is free again: the same key starts a new execution.
    await c.hosted.tick()  # days passed: the hosting coordinator heartbeats its worker again
    again = await h.submit(key="k0")
    assert again != ok
    assert (await h.settle(again)).status is ExecutionStatus.WAITING_EXTERNAL
    await assert_exact(h, {"WAITING_EXTERNAL": 2})
