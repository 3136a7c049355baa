"""The operator's queries (issue 12), run against every store (see conftest): execution search
with every filter, its window and keyset paging under concurrent updates, the status counts,
pending interactions by execution with a cursor, and an execution's interactions.

On DynamoDB every test also asserts that no Scan was issued (the operations the store's client
sends are counted through botocore's ``before-call`` event).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from msgspec.structs import replace

from tests.stores.test_execution_store_contract import T0, TTL_S
from tpf.core.errors import ValidationError
from tpf.core.records import (
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
    InteractionStatus,
)
from tpf.core.search import ExecutionQuery
from tpf.stores.base import AwaitStore, ExecutionStore

S = ExecutionStatus


def _count_operations(store: object) -> Counter[str] | None:
    """Count the DynamoDB operations ``store`` sends (``None`` for other stores)."""
    db = getattr(store, "_db", None)
    client = getattr(db, "client", None)
    if client is None or not hasattr(client, "meta"):
        return None
    ops: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        ops[model.name] += 1

    client.meta.events.register("before-call.dynamodb", record)
    return ops


@pytest.fixture
async def executions(execution_store: ExecutionStore) -> AsyncIterator[ExecutionStore]:
    ops = _count_operations(execution_store)
    yield execution_store
    if ops is not None:
        assert ops["Query"] > 0  # the counter sees this store's requests
        assert ops["Scan"] == 0, ops


@pytest.fixture
async def awaits(await_store: AwaitStore) -> AsyncIterator[AwaitStore]:
    ops = _count_operations(await_store)
    yield await_store
    if ops is not None:
        assert ops["Query"] > 0
        assert ops["Scan"] == 0, ops


def rec(n: int, **fields: Any) -> ExecutionRecord:
    defaults: dict[str, Any] = {
        "tenant_id": "t1",
        "pipeline_id": "p",
        "release_version": "r1",
        "status": S.QUEUED,
        "ttl_epoch_s": TTL_S,
        "next_due_epoch_ms": T0,
        "created_at_epoch_ms": T0,
        "updated_at_epoch_ms": T0 + n,
    }
    return ExecutionRecord(
        execution_id=f"e{n:03d}",
        execution_key=f"k{n:03d}",
        contract_version="c1",
        input_payload={"n": n},
        **{**defaults, **fields},
    )


def make_interaction(interaction_id: str, **fields: Any) -> AwaitInteraction:
    defaults: dict[str, Any] = {
        "tenant_id": "t1",
        "execution_id": f"e-{interaction_id}",
        "step_id": "approve",
        "status": InteractionStatus.WAITING,
        "deadline_epoch_ms": T0 + 1_000,
        "created_at_epoch_ms": T0,
    }
    if "deadline" in fields:
        fields["deadline_epoch_ms"] = fields.pop("deadline")
    if "tenant" in fields:
        fields["tenant_id"] = fields.pop("tenant")
    return AwaitInteraction(
        step_index=1,
        output_type=None,
        interaction_id=interaction_id,
        correlation_id=f"c-{interaction_id}",
        causation_id="cause",
        idempotency_key=f"idem-{interaction_id}",
        unit_id=f"u-{interaction_id}",
        request_payload={"amount": 3},
        **{**defaults, **fields},
    )


def q(**filters: Any) -> ExecutionQuery:
    return ExecutionQuery(tenant_id=filters.pop("tenant_id", "t1"), **filters)


async def ids_of(store: ExecutionStore, query: ExecutionQuery, limit: int = 50) -> list[str]:
    page = await store.search(query, limit, None, T0)
    return [r.execution_id for r in page.items]


async def test_search_newest_first_and_every_filter(executions: ExecutionStore) -> None:
    rows = [
        rec(1, pipeline_id="pay", status=S.FAILED, error_code="BOOM", current_step_id="charge"),
        rec(2, pipeline_id="pay", status=S.QUEUED, current_step_id="charge"),
        rec(3, pipeline_id="ship", status=S.FAILED, error_code="LATE", release_version="r2"),
        rec(4, pipeline_id="pay", status=S.FAILED, error_code="BOOM", release_version="r2"),
        rec(5, pipeline_id="ship", status=S.WAITING_EXTERNAL, current_step_id="approve"),
        rec(6, tenant_id="t2", pipeline_id="pay", status=S.FAILED, error_code="BOOM"),
    ]
    for row in rows:
        await executions.create_or_get(row, T0)
    st = executions
    assert await ids_of(st, q()) == ["e005", "e004", "e003", "e002", "e001"]
    assert await ids_of(st, q(tenant_id="t2")) == ["e006"]
    assert await ids_of(st, q(pipeline_id="pay")) == ["e004", "e002", "e001"]
    assert await ids_of(st, q(status=S.FAILED)) == ["e004", "e003", "e001"]
    assert await ids_of(st, q(pipeline_id="pay", status=S.FAILED)) == ["e004", "e001"]
    assert await ids_of(st, q(release_version="r2")) == ["e004", "e003"]
    assert await ids_of(st, q(step_id="charge")) == ["e002", "e001"]
    assert await ids_of(st, q(error_code="BOOM")) == ["e004", "e001"]
    assert await ids_of(st, q(error_code="BOOM", release_version="r1")) == ["e001"]
    assert await ids_of(st, q(pipeline_id="ship", status=S.QUEUED)) == []
    assert await ids_of(st, q(updated_after_ms=T0 + 2, updated_before_ms=T0 + 4)) == [
        "e004",
        "e003",
        "e002",
    ]
    assert await ids_of(st, q(status=S.FAILED, updated_before_ms=T0 + 3)) == ["e003", "e001"]
    assert await ids_of(st, q(pipeline_id="pay", updated_after_ms=T0 + 2)) == ["e004", "e002"]


async def test_search_follows_updates_and_skips_expired(executions: ExecutionStore) -> None:
    for n in (1, 2):
        await executions.create_or_get(rec(n), T0)
    first = await executions.get("t1", "e001", T0)
    assert first is not None
    failed = replace(first, status=S.FAILED, error_code="X", version=1, updated_at_epoch_ms=T0 + 9)
    assert await executions.compare_and_set(failed, 0) == failed
    assert await ids_of(executions, q()) == ["e001", "e002"]
    assert await ids_of(executions, q(status=S.QUEUED)) == ["e002"]
    assert await ids_of(executions, q(error_code="X")) == ["e001"]
    expired = rec(3, status=S.SUCCEEDED, ttl_epoch_s=T0 // 1000 - 1)
    await executions.create_or_get(expired, T0 - 10_000)
    assert await ids_of(executions, q()) == ["e001", "e002"]


async def test_search_pages_have_no_duplicates_or_omissions_under_updates(
    executions: ExecutionStore,
) -> None:
    for n in range(1, 13):
        await executions.create_or_get(rec(n, status=S.FAILED, pipeline_id="pay"), T0)
    query = q(status=S.FAILED, pipeline_id="pay")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await executions.search(query, 4, cursor, T0)
        seen += [r.execution_id for r in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        if pages == 1:
            # Between pages: one served item is updated (moves to the top, behind us), one
            # not yet served is updated too (also moves to the top: it was not lost, it is
            # newer than the walk), and a new one arrives (newest, so not in this walk).
            for moved in ("e012", "e003"):
                stored = await executions.get("t1", moved, T0)
                assert stored is not None
                bumped = replace(stored, version=stored.version + 1, updated_at_epoch_ms=T0 + 50)
                assert await executions.compare_and_set(bumped, stored.version) is not None
            await executions.create_or_get(rec(13, status=S.FAILED, pipeline_id="pay"), T0)
    assert pages == 3
    assert len(seen) == len(set(seen))
    expected = [f"e{n:03d}" for n in range(12, 0, -1) if n != 3]
    assert seen == expected  # every item not moved is served once, in order
    top = await executions.search(query, 3, None, T0)
    assert [r.execution_id for r in top.items] == ["e012", "e003", "e013"]


async def test_search_last_page_has_no_cursor(executions: ExecutionStore) -> None:
    for n in range(1, 5):
        await executions.create_or_get(rec(n), T0)
    page = await executions.search(q(), 4, None, T0)
    assert len(page.items) == 4 and page.next_cursor is None
    page = await executions.search(q(), 3, None, T0)
    assert page.next_cursor is not None
    rest = await executions.search(q(), 3, page.next_cursor, T0)
    assert [r.execution_id for r in rest.items] == ["e001"] and rest.next_cursor is None


@pytest.mark.parametrize("cursor", ["not a cursor!", "eyJ4IjoxfQ", "WzEsMiwzXQ"])
async def test_search_bad_cursor_names_cursor(executions: ExecutionStore, cursor: str) -> None:
    await executions.create_or_get(rec(1), T0)  # the store answers: the counter sees a Query
    await executions.search(q(), 1, None, T0)
    with pytest.raises(ValidationError, match="cursor"):
        await executions.search(q(), 10, cursor, T0)


async def test_count_by_status_follows_every_write(executions: ExecutionStore) -> None:
    for n in range(1, 6):
        await executions.create_or_get(rec(n), T0)
    stored = await executions.get("t1", "e001", T0)
    assert stored is not None
    await executions.compare_and_set(replace(stored, status=S.FAILED, version=1), 0)
    await executions.claim_lease("t1", "e002", "w", T0, 30_000)
    assert await executions.count_by_status() == {"QUEUED": 3, "FAILED": 1, "RUNNING": 1}
    await executions.search(q(), 1, None, T0)


# --------------------------------------------------------------------------- interactions


async def test_page_pending_by_execution_with_cursor(awaits: AwaitStore) -> None:
    for n in range(7):
        await awaits.create_or_get(
            make_interaction(f"i{n}", deadline=T0 + 100 - n, execution_id="ex", item_index=n)
        )
    await awaits.create_or_get(make_interaction("other", deadline=T0))
    done = make_interaction("done", execution_id="ex", status=InteractionStatus.COMPLETED)
    await awaits.create_or_get(done)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await awaits.page_pending("t1", execution_id="ex", limit=3, cursor=cursor)
        seen += [i.interaction_id for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"i{n}" for n in range(6, -1, -1)]  # earliest deadline first
    everyone = await awaits.page_pending("t1", limit=100)
    assert [i.interaction_id for i in everyone.items][:2] == ["other", "i6"]
    assert everyone.next_cursor is None and len(everyone.items) == 8
    by_step = await awaits.page_pending("t1", step_id="approve", execution_id="ex", limit=2)
    assert [i.interaction_id for i in by_step.items] == ["i6", "i5"]
    with pytest.raises(ValidationError, match="cursor"):
        await awaits.page_pending("t1", cursor="%%")


async def test_page_pending_paging_past_the_thousandth(awaits: AwaitStore) -> None:
    # The case: more than a page of pending interactions are all reachable.
    for n in range(25):
        await awaits.create_or_get(make_interaction(f"i{n:02d}", deadline=T0 + n))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await awaits.page_pending("t1", limit=10, cursor=cursor)
        seen += [i.interaction_id for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"i{n:02d}" for n in range(25)]


async def test_list_for_execution_any_status_oldest_first(awaits: AwaitStore) -> None:
    await awaits.create_or_get(make_interaction("b", execution_id="ex", created_at_epoch_ms=T0 + 2))
    await awaits.create_or_get(
        make_interaction(
            "a", execution_id="ex", created_at_epoch_ms=T0 + 1, status=InteractionStatus.COMPLETED
        )
    )
    await awaits.create_or_get(make_interaction("c", execution_id="ex", created_at_epoch_ms=T0 + 2))
    await awaits.create_or_get(make_interaction("z", execution_id="other"))
    await awaits.create_or_get(make_interaction("y", tenant="t2", execution_id="ex"))
    found = await awaits.list_for_execution("t1", "ex")
    assert [i.interaction_id for i in found] == ["a", "b", "c"]
    assert [i.interaction_id for i in await awaits.list_for_execution("t1", "ex", 2)] == ["a", "b"]
    assert await awaits.list_for_execution("t1", "none") == []
