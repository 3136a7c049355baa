"""The ItemStore contract (issue 13), run against every implementation (see conftest).

Pages are checked across more than one read of the backing store (2,500 items, statuses mixed,
pages of 1,000; on DynamoDB a filtered page then takes several Queries). On DynamoDB every test
also asserts that no Scan was issued. The tests at the end check what one backend promises:
DynamoDB inserts a page in conditional transactions, SQLite deletes an expired execution's items
with it and answers status queries from their index.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from tests.aws_calls import CallLog, store_calls
from tests.stores.conftest import dynamo_for
from tests.stores.test_execution_store_contract import T0
from tests.stores.test_execution_store_contract import make as make_execution
from tpf.core.items import ItemStatus, StreamItem
from tpf.core.records import ExecutionStatus
from tpf.stores.base import ItemStore
from tpf.stores.dynamo import DynamoItemStore
from tpf.stores.sqlite import SqliteDatabase, SqliteExecutionStore, SqliteItemStore

P, A, D, F = ItemStatus.PENDING, ItemStatus.AWAITING, ItemStatus.DONE, ItemStatus.FAILED
MANY = 2_500
PAGE = 1_000  # what an expansion or a walk over the items asks for at once


@pytest.fixture
async def items(item_store: ItemStore) -> AsyncIterator[ItemStore]:
    ops = store_calls(item_store)
    yield item_store
    if ops is not None:
        assert sum(ops.values()) > 0  # the counter sees this store's requests
        assert ops["Scan"] == 0, ops


def item(index: int, *, tenant: str = "t1", execution: str = "e1", **fields: Any) -> StreamItem:
    fields.setdefault("payload", {"n": index})
    return StreamItem(tenant_id=tenant, execution_id=execution, item_index=index, **fields)


def status_of(index: int) -> ItemStatus:
    """A mix where every status has runs and gaps: failed every 7th, done every 3rd, awaiting
    every 5th, pending otherwise."""
    if index % 7 == 0:
        return F
    if index % 3 == 0:
        return D
    return A if index % 5 == 0 else P


async def insert_paged(store: ItemStore, batch: list[StreamItem]) -> int:
    inserted = 0
    for start in range(0, len(batch), PAGE):
        inserted += await store.insert_missing(batch[start : start + PAGE])
    return inserted


async def walk(store: ItemStore, status: ItemStatus | None, limit: int = PAGE) -> list[int]:
    """Every index the store pages out, each page starting after the last one served."""
    seen: list[int] = []
    start = 0
    while True:
        page = await store.page("t1", "e1", start=start, limit=limit, status=status)
        assert len(page) <= limit
        seen += [i.item_index for i in page]
        if len(page) < limit:
            return seen
        start = page[-1].item_index + 1


async def test_insert_missing_keeps_stored_items_and_counts_inserted(items: ItemStore) -> None:
    assert await items.insert_missing([]) == 0
    assert await items.insert_missing([item(n) for n in range(10)]) == 10
    done = replace(item(3), status=D, version=1, output_payload={"ok": True})
    assert await items.compare_and_set(done, 0) == done

    # A re-run expansion stores the new items and never resets one that made progress.
    rerun = [item(n, payload={"again": n}) for n in range(15)]
    assert await items.insert_missing(rerun) == 5
    assert await items.get("t1", "e1", 3) == done
    assert await items.get("t1", "e1", 4) == item(4)  # first payload kept
    assert await items.get("t1", "e1", 12) == item(12, payload={"again": 12})
    assert await items.insert_missing(rerun) == 0

    # Duplicate keys in one call: the first is stored, counted once.
    twice = [item(20, payload="first"), item(20, payload="second")]
    assert await items.insert_missing(twice) == 1
    assert await items.get("t1", "e1", 20) == item(20, payload="first")
    assert await items.get("t1", "e1", 99) is None
    assert await items.get("t2", "e1", 3) is None  # keyed by tenant too


async def test_pages_in_index_order_across_store_pages(items: ItemStore) -> None:
    batch = [item(n, status=status_of(n)) for n in reversed(range(MANY))]
    assert await insert_paged(items, batch) == MANY
    # Neighbours the pages must not pick up: another execution, the same one of another tenant.
    await items.insert_missing([item(n, execution="e2") for n in range(5)])
    await items.insert_missing([item(n, tenant="t2", status=D) for n in range(5)])

    first = await items.page("t1", "e1", start=0, limit=PAGE)
    assert first == sorted(batch, key=lambda i: i.item_index)[:PAGE]  # whole records back
    assert [i.item_index for i in await items.page("t1", "e1", start=2_400, limit=PAGE)] == list(
        range(2_400, MANY)
    )
    assert [i.item_index for i in await items.page("t1", "e1", start=17, limit=3)] == [17, 18, 19]
    assert await items.page("t1", "e1", start=MANY, limit=PAGE) == []
    assert await items.page("t1", "e1", start=0, limit=0) == []
    assert await items.page("t1", "nope", start=0, limit=PAGE) == []
    assert await walk(items, None) == list(range(MANY))

    for status in ItemStatus:
        expected = [n for n in range(MANY) if status_of(n) is status]
        assert await walk(items, status) == expected, status
        page = await items.page("t1", "e1", start=1_001, limit=7, status=status)
        assert [i.item_index for i in page] == [n for n in expected if n >= 1_001][:7]
        assert all(i.status is status for i in page)


async def test_a_sparse_status_page_reads_past_non_matching_items(items: ItemStore) -> None:
    # One failed item far past 2,000 pending ones: the filtered page still finds it.
    batch = [item(n) for n in range(2_000)] + [item(2_000, status=F)]
    assert await insert_paged(items, batch) == 2_001
    assert [i.item_index for i in await items.page("t1", "e1", start=0, limit=5, status=F)] == [
        2_000
    ]
    assert await items.page("t1", "e1", start=0, limit=5, status=D) == []


async def test_compare_and_set_first_writer_wins(items: ItemStore) -> None:
    await items.insert_missing([item(0), item(1)])
    awaiting = replace(item(0), status=A, version=1, interaction_id="i-0")
    done = replace(item(0), status=D, version=1, output_payload={"v": 1})
    assert await items.compare_and_set(awaiting, 0) == awaiting
    assert await items.compare_and_set(done, 0) is None  # the second writer of version 0 loses
    assert await items.get("t1", "e1", 0) == awaiting
    finished = replace(awaiting, status=D, version=2, output_payload={"v": 2})
    assert await items.compare_and_set(finished, 1) == finished
    assert await items.compare_and_set(replace(finished, version=3), 1) is None  # stale
    assert await items.get("t1", "e1", 0) == finished
    assert await items.get("t1", "e1", 1) == item(1)  # its neighbour untouched

    absent = replace(item(7), status=D, version=1)
    assert await items.compare_and_set(absent, 0) is None
    assert await items.get("t1", "e1", 7) is None  # a failed write stores nothing
    assert await items.page("t1", "e1", start=0, limit=10, status=D) == [finished]


async def test_counts_per_status(items: ItemStore) -> None:
    assert await items.counts("t1", "e1") == {}
    await insert_paged(items, [item(n, status=status_of(n)) for n in range(MANY)])
    await items.insert_missing([item(n, execution="e2", status=F) for n in range(3)])
    expected: dict[ItemStatus, int] = {}
    for n in range(MANY):
        expected[status_of(n)] = expected.get(status_of(n), 0) + 1
    assert await items.counts("t1", "e1") == expected
    assert await items.counts("t1", "e2") == {F: 3}  # absent statuses omitted
    moved = replace(item(1), status=D, version=1)
    assert await items.compare_and_set(moved, 0) == moved
    assert await items.counts("t1", "e1") == {**expected, P: expected[P] - 1, D: expected[D] + 1}


async def test_delete_for_execution_is_scoped(items: ItemStore) -> None:
    await insert_paged(items, [item(n) for n in range(30)])
    await items.insert_missing([item(n, execution="e2") for n in range(4)])
    await items.insert_missing([item(n, tenant="t2") for n in range(5)])
    assert await items.delete_for_execution("t1", "e1") == 30
    assert await items.page("t1", "e1", start=0, limit=PAGE) == []
    assert await items.counts("t1", "e1") == {}
    assert await items.get("t1", "e1", 0) is None
    assert await items.counts("t1", "e2") == {P: 4}
    assert await items.counts("t2", "e1") == {P: 5}
    assert await items.delete_for_execution("t1", "e1") == 0
    # The key is free again: a new expansion starts from scratch.
    assert await items.insert_missing([item(0, payload="new")]) == 1
    assert await items.get("t1", "e1", 0) == item(0, payload="new")


# --------------------------------------------------------------- DynamoDB and SQLite specifics


async def test_dynamo_inserts_a_page_in_conditional_transactions(
    request: pytest.FixtureRequest,
) -> None:
    async with dynamo_for(request, state__provider="dynamo") as (client, settings):
        store = DynamoItemStore(client, settings)
        ops = CallLog().attach(client).calls
        assert await store.insert_missing([item(n) for n in range(PAGE)]) == PAGE
        assert (ops["TransactWriteItems"], ops["PutItem"]) == (10, 0)  # 100 puts each
        # A page half stored already: its transaction is cancelled, and only the items whose
        # condition held are put one by one.
        ops.clear()
        assert await store.insert_missing([item(n) for n in range(950, 1_050)]) == 50
        assert (ops["TransactWriteItems"], ops["PutItem"]) == (1, 50)
        ops.clear()
        assert await store.insert_missing([item(n) for n in range(PAGE)]) == 0  # all stored
        assert (ops["TransactWriteItems"], ops["PutItem"]) == (10, 0)
        assert await store.counts("t1", "e1") == {P: 1_050}


async def test_sqlite_expiry_of_an_execution_deletes_its_items(sqlite_db: SqliteDatabase) -> None:
    executions, items = SqliteExecutionStore(sqlite_db), SqliteItemStore(sqlite_db)
    ended = make_execution("e1", "k1", status=ExecutionStatus.SUCCEEDED, ttl_epoch_s=T0 // 1000)
    await executions.create_or_get(ended, T0 - 1_000)
    await executions.create_or_get(make_execution("e2", "k2"), T0)
    await items.insert_missing([item(n) for n in range(3)])
    await items.insert_missing([item(n, execution="e2") for n in range(2)])

    assert await executions.get("t1", "e1", T0) is None  # lazy expiry deletes the execution
    assert await items.counts("t1", "e1") == {}  # and its items, in the same statement
    assert await items.counts("t1", "e2") == {P: 2}


async def test_sqlite_status_page_and_counts_use_the_status_index(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(str(tmp_path / "tpf.sqlite3"))
    plans = await db.run(
        lambda conn: [
            str(conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
            for sql in (
                "SELECT data FROM stream_items WHERE tenant_id = 't' AND execution_id = 'e' "
                "AND status = 'DONE' AND item_index >= 0 ORDER BY item_index LIMIT 10",
                "SELECT status, COUNT(*) FROM stream_items WHERE tenant_id = 't' "
                "AND execution_id = 'e' GROUP BY status",
            )
        ]
    )
    await db.close()
    for plan in plans:
        assert "stream_items_by_status" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # no sort: the index order is the answer's
