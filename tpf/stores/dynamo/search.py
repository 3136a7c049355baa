"""Execution search on DynamoDB: sparse sharded GSIs, one Query per shard, merged. Never a Scan.

Three indexes share the sort key ``search_sort`` = ``{updated_at:019d}#{execution_id}`` (string
order is the search order) and partition each tenant into ``search_shards`` shards by the
execution id's crc32, so no single partition takes a busy tenant's writes:

- ``execution-search``: ``search_key`` = (tenant, shard), every execution;
- ``execution-search-by-status``: ``search_status_key`` = (tenant, status, shard);
- ``execution-search-by-pipeline``: ``search_pipeline_key`` = (tenant, pipeline, shard).

A page queries the index keyed on the query's most selective filter (status, else pipeline,
else the tenant's), every shard concurrently, newest first from the cursor (and within the
update-time window, both on the sort key), with the remaining filters as a FilterExpression on
the projected attributes. Each shard reads until it has ``limit + 1`` hits or runs out; the
merge keeps the newest ``limit`` and knows whether more follow. Only those are read back (one
consistent ``BatchGetItem``) and re-checked against the query, since a GSI lags its table: an
execution that changed meanwhile is left out of this page and shows on a fresh search.

Cost per page: ``search_shards`` Query requests (more only when a shard's filter rejects over
a page of entries) plus one BatchGetItem. The cursor stays the :class:`~tpf.core.search.
SearchKey` of the last entry served, so it is interchangeable with the other stores'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tpf.core.records import ExecutionRecord
from tpf.core.search import (
    ExecutionPage,
    ExecutionQuery,
    SearchKey,
    encode_cursor,
    matches,
)
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import Dynamo
from tpf.stores.dynamo.codec import Item, N, S, get_s
from tpf.stores.dynamo.execution_items import item_expired, key_of, now_s, terminal_values

_READ_MAX = 500  # index entries a shard reads per request


class SearchIndexes:
    """The three index names and the shard count (from settings)."""

    def __init__(self, tenant: str, status: str, pipeline: str, shards: int) -> None:
        self.tenant, self.status, self.pipeline = tenant, status, pipeline
        self.shards = max(1, shards)


def _partition(indexes: SearchIndexes, query: ExecutionQuery) -> tuple[str, str, list[str]]:
    """``(index, partition attribute, partition values per shard)`` for the query."""
    t = query.tenant_id
    if query.status is not None:
        status = query.status.value
        values = [keys.search_partition(t, n, status) for n in range(indexes.shards)]
        return indexes.status, "search_status_key", values
    if query.pipeline_id is not None:
        pipeline = query.pipeline_id
        values = [keys.search_partition(t, n, pipeline) for n in range(indexes.shards)]
        return indexes.pipeline, "search_pipeline_key", values
    values = [keys.search_partition(t, n) for n in range(indexes.shards)]
    return indexes.tenant, "search_key", values


def _sort_condition(query: ExecutionQuery, after: SearchKey | None) -> tuple[str, Item]:
    """The key condition on ``search_sort``: below the cursor, inside the window."""
    upper: str | None = None  # exclusive
    if query.updated_before_ms is not None:
        upper = keys.padded(query.updated_before_ms + 1)  # every id of that ms sorts below
    if after is not None:
        cursor = keys.search_sort(after.updated_at_epoch_ms, after.execution_id)
        upper = cursor if upper is None else min(upper, cursor)
    lower = None if query.updated_after_ms is None else keys.padded(query.updated_after_ms)
    if lower is not None and upper is not None:
        # BETWEEN is inclusive: the upper bound itself is dropped after the read.
        return " AND search_sort BETWEEN :lo AND :hi", {":lo": S(lower), ":hi": S(upper)}
    if upper is not None:
        return " AND search_sort < :hi", {":hi": S(upper)}
    if lower is not None:
        return " AND search_sort >= :lo", {":lo": S(lower)}
    return "", {}


def _filter(
    query: ExecutionQuery, index: str, indexes: SearchIndexes
) -> tuple[str, Item, dict[str, str]]:
    """The FilterExpression for what the partition does not key on, and expired items."""
    clauses: list[str] = []
    values: Item = {}
    names: dict[str, str] = {}
    fields: list[tuple[str, str | None]] = [
        ("release_version", query.release_version),
        ("current_step_id", query.step_id),
        ("error_code", query.error_code),
    ]
    if index != indexes.pipeline:
        fields.append(("pipeline_id", query.pipeline_id))
    for n, (attribute, value) in enumerate(fields):
        if value is not None:
            clauses.append(f"{attribute} = :f{n}")
            values[f":f{n}"] = S(value)
    # Expired terminal items read as absent (DynamoDB's TTL deletes them eventually).
    names["#status"] = "status"
    terminal = ", ".join(terminal_values())
    clauses.append(
        "(attribute_not_exists(ttl_epoch_s) OR ttl_epoch_s > :now_s"
        f" OR NOT (#status IN ({terminal})))"
    )
    return " AND ".join(clauses), values | terminal_values(), names


async def _shard_hits(
    db: Dynamo,
    table: str,
    index: str,
    condition: str,
    values: Item,
    names: dict[str, str],
    filter_expression: str,
    want: int,
    upper: str | None,
) -> list[Item]:
    hits: list[Item] = []
    start: Item | None = None
    while len(hits) < want:
        items, start = await db.query(
            table,
            condition,
            values,
            names=names,
            index=index,
            limit=min(_READ_MAX, max(want, 1) * 2),
            forward=False,
            start=start,
            filter=filter_expression,
        )
        hits += [i for i in items if upper is None or get_s(i, "search_sort") < upper]
        if start is None:
            break
    return hits[:want]


async def search_page(
    db: Dynamo,
    table: str,
    indexes: SearchIndexes,
    query: ExecutionQuery,
    limit: int,
    after: SearchKey | None,
    now_ms: int,
) -> tuple[list[Item], str | None]:
    """The page's fresh items, newest first, and the next page's cursor."""
    if limit <= 0:
        return [], None
    index, attribute, partitions = _partition(indexes, query)
    sort_condition, sort_values = _sort_condition(query, after)
    filter_expression, filter_values, names = _filter(query, index, indexes)
    upper = sort_values.get(":hi", {}).get("S")

    async def shard(partition: str) -> list[Item]:
        return await _shard_hits(
            db,
            table,
            index,
            f"{attribute} = :p{sort_condition}",
            {":p": S(partition), ":now_s": N(now_s(now_ms)), **sort_values, **filter_values},
            names,
            filter_expression,
            limit + 1,
            upper,
        )

    shards = await asyncio.gather(*(shard(p) for p in partitions))
    entries = sorted(
        (entry for hits in shards for entry in hits),
        key=lambda e: get_s(e, "search_sort"),
        reverse=True,
    )
    page, more = entries[:limit], len(entries) > limit
    fresh = {
        (get_s(i, "tenant_id"), get_s(i, "execution_id")): i
        for i in await db.batch_get(
            table, [key_of(get_s(e, "tenant_id"), get_s(e, "execution_id")) for e in page]
        )
    }
    items = [
        fresh[key]
        for key in ((get_s(e, "tenant_id"), get_s(e, "execution_id")) for e in page)
        if key in fresh and not item_expired(fresh[key], now_ms)
    ]
    cursor = None
    if more and page:
        last = get_s(page[-1], "search_sort")
        updated, _, execution_id = last.partition("#")
        cursor = encode_cursor(SearchKey(int(updated), execution_id))
    return items, cursor


def still_matching(
    query: ExecutionQuery, records: list[ExecutionRecord], cursor: SearchKey | None
) -> list[ExecutionRecord]:
    """The records that still match the query and sort after the cursor (a GSI lags)."""
    return [
        r
        for r in records
        if matches(query, r)
        and (
            cursor is None
            or (r.updated_at_epoch_ms, r.execution_id)
            < (cursor.updated_at_epoch_ms, cursor.execution_id)
        )
    ]


async def records_page(
    db: Dynamo,
    table: str,
    indexes: SearchIndexes,
    decode: Callable[[Item], Awaitable[ExecutionRecord]],
    query: ExecutionQuery,
    limit: int,
    after: SearchKey | None,
    now_ms: int,
) -> ExecutionPage:
    """:func:`search_page` with each item decoded (``decode`` reads chunked payloads back)."""
    items, cursor = await search_page(db, table, indexes, query, limit, after, now_ms)
    records = await asyncio.gather(*(decode(i) for i in items))
    return ExecutionPage(still_matching(query, list(records), after), cursor)
