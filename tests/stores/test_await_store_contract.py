"""The AwaitStore contract, run against every implementation (see conftest)."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace

from tpf.core.errors import Conflict
from tpf.core.records import AwaitInteraction, InteractionStatus
from tpf.stores.base import AwaitStore

T0 = 1_760_000_000_000


def make(
    interaction_id: str = "i1",
    *,
    tenant: str = "t1",
    deadline: int = T0 + 1_000,
    status: InteractionStatus = InteractionStatus.WAITING,
    **fields: Any,
) -> AwaitInteraction:
    fields.setdefault("step_id", "approve")
    return AwaitInteraction(
        tenant_id=tenant,
        execution_id=f"e-{interaction_id}",
        step_index=1,
        output_type=None,
        interaction_id=interaction_id,
        correlation_id=fields.pop("correlation_id", f"c-{interaction_id}"),
        causation_id="cause",
        idempotency_key=f"idem-{interaction_id}",
        unit_id=f"u-{interaction_id}",
        status=status,
        deadline_epoch_ms=deadline,
        request_payload={"amount": 3},
        **fields,
    )


def ids(items: list[AwaitInteraction]) -> list[str]:
    return [i.interaction_id for i in items]


async def test_create_or_get_is_idempotent(await_store: AwaitStore) -> None:
    first = make()
    assert await await_store.create_or_get(first) == (first, True)
    again = replace(first, request_payload={"other": True})
    assert await await_store.create_or_get(again) == (first, False)
    assert await await_store.get("t1", "i1") == first
    assert await await_store.get("t2", "i1") is None
    assert await await_store.get_by_correlation("t1", "c-i1") == first
    assert await await_store.get_by_correlation("t2", "c-i1") is None
    assert await await_store.get_by_correlation("t1", "nope") is None


async def test_correlation_conflict(await_store: AwaitStore) -> None:
    await await_store.create_or_get(make("i1", correlation_id="c"))
    with pytest.raises(Conflict):
        await await_store.create_or_get(make("i2", correlation_id="c"))
    assert await await_store.get("t1", "i2") is None
    # Correlation ids are unique per tenant only.
    other = make("i2", tenant="t2", correlation_id="c")
    assert await await_store.create_or_get(other) == (other, True)


async def test_compare_and_set(await_store: AwaitStore) -> None:
    original = make()
    await await_store.create_or_get(original)
    done = replace(original, version=1, status=InteractionStatus.COMPLETED, response_payload=1)
    assert await await_store.compare_and_set(done, 0) == done
    assert await await_store.get("t1", "i1") == done
    assert await await_store.compare_and_set(replace(done, version=2), 0) is None
    assert await await_store.get("t1", "i1") == done
    assert await await_store.compare_and_set(make("missing"), 0) is None


async def test_query_pending_filters_order_and_limit(await_store: AwaitStore) -> None:
    items = [
        make("i3", deadline=T0 + 3, assignee="ann", group="ops"),
        make("i1", deadline=T0 + 1, assignee="bob", group="ops"),
        make("i2", deadline=T0 + 2, assignee="ann", group="fin", step_id="review"),
        make("i0", deadline=T0 + 2, group="ops", step_id="review"),
        make("done", deadline=T0, assignee="ann", status=InteractionStatus.COMPLETED),
        make("gone", deadline=T0, assignee="ann", status=InteractionStatus.CANCELLED),
        make("x", tenant="t2", deadline=T0, assignee="ann", group="ops"),
        make("d", deadline=T0 + 9, status=InteractionStatus.DISPATCHED, assignee="ann"),
    ]
    for item in items:
        await await_store.create_or_get(item)
    assert ids(await await_store.query_pending("t1")) == ["i1", "i0", "i2", "i3", "d"]
    assert ids(await await_store.query_pending("t1", limit=2)) == ["i1", "i0"]
    assert ids(await await_store.query_pending("t1", assignee="ann")) == ["i2", "i3", "d"]
    assert ids(await await_store.query_pending("t1", group="ops")) == ["i1", "i0", "i3"]
    assert ids(await await_store.query_pending("t1", step_id="review")) == ["i0", "i2"]
    assert ids(await await_store.query_pending("t1", assignee="ann", group="ops")) == ["i3"]
    assert ids(await await_store.query_pending("t1", group="ops", step_id="review")) == ["i0"]
    assert ids(
        await await_store.query_pending("t1", assignee="ann", group="fin", step_id="review")
    ) == ["i2"]
    assert await await_store.query_pending("t1", assignee="nobody") == []
    assert ids(await await_store.query_pending("t2", group="ops")) == ["x"]


async def test_pending_queries_follow_updates(await_store: AwaitStore) -> None:
    item = make("i1", assignee="ann")
    await await_store.create_or_get(item)
    moved = replace(item, version=1, assignee="bob", deadline_epoch_ms=T0 + 5)
    await await_store.compare_and_set(moved, 0)
    assert await await_store.query_pending("t1", assignee="ann") == []
    assert await await_store.query_pending("t1", assignee="bob") == [moved]
    done = replace(moved, version=2, status=InteractionStatus.COMPLETED)
    await await_store.compare_and_set(done, 1)
    assert await await_store.query_pending("t1") == []
    assert await await_store.find_overdue(T0 * 2, 10) == []


async def test_find_overdue(await_store: AwaitStore) -> None:
    for item in (
        make("late2", deadline=T0 + 2, tenant="t0"),
        make("late1", deadline=T0 + 1),
        make("ontime", deadline=T0 + 10),
        make("resolved", deadline=T0, status=InteractionStatus.TIMED_OUT),
    ):
        await await_store.create_or_get(item)
    assert ids(await await_store.find_overdue(T0 + 2, 10)) == ["late1", "late2"]
    assert ids(await await_store.find_overdue(T0 + 2, 1)) == ["late1"]
    assert await await_store.find_overdue(T0, 10) == []


async def test_find_unapplied(await_store: AwaitStore) -> None:
    pending = make("p")
    await await_store.create_or_get(pending)
    await await_store.create_or_get(make("a", status=InteractionStatus.COMPLETED, applied=True))
    assert await await_store.find_unapplied(10) == []
    completed = replace(pending, version=1, status=InteractionStatus.COMPLETED)
    await await_store.compare_and_set(completed, 0)
    timed_out = make("t", status=InteractionStatus.TIMED_OUT)
    await await_store.create_or_get(timed_out)
    assert ids(await await_store.find_unapplied(10)) == ["p", "t"]
    assert len(await await_store.find_unapplied(1)) == 1
    await await_store.compare_and_set(replace(completed, version=2, applied=True), 1)
    assert ids(await await_store.find_unapplied(10)) == ["t"]


async def test_get_many_reads_the_stored_interactions_of_one_tenant(
    await_store: AwaitStore,
) -> None:
    for name in ("i1", "i2", "i3"):
        await await_store.create_or_get(make(name))
    await await_store.create_or_get(make("i4", tenant="t2"))
    answered = replace(make("i2"), version=1, status=InteractionStatus.COMPLETED)
    assert await await_store.compare_and_set(answered, 0) == answered
    found = await await_store.get_many("t1", ["i2", "missing", "i1", "i4"])
    # The current version (as get reads it); missing ids and other tenants' are absent.
    assert found == {"i1": make("i1"), "i2": answered}
    assert await await_store.get_many("t1", []) == {}
    many = [f"m{n}" for n in range(130)]  # past one BatchGetItem (100 keys)
    for name in many:
        await await_store.create_or_get(make(name))
    assert sorted(await await_store.get_many("t1", many)) == sorted(many)
