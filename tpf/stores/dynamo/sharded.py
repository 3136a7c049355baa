"""Queries over a sharded, sparse index: one ``Query`` per shard, concurrently, then a merge.

The supervisors' indexes (due executions, dead letters, overdue and unapplied interactions) put
each item in one of ``dynamo_shards`` partitions (``keys.shard_of``), so no single partition key
takes the whole fleet's writes. Reading them means asking every shard for its first ``limit``
hits and merging; :func:`first_due` also repairs the one way a per-shard limit can lose order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tpf.stores.dynamo.client import Dynamo
from tpf.stores.dynamo.codec import Item, N, S, get_n, get_s

Page = tuple[list[Item], bool]  # (items, the shard may have more)
DueEntry = tuple[int, str, str]  # (sort number, tenant, item id)


async def query_shards(
    db: Dynamo,
    table: str,
    index: str | None,
    shards: int,
    shard_key: tuple[str, Callable[[int], str]],
    *,
    condition: str = "",
    values: Item | None = None,
    limit: int,
) -> list[Page]:
    """The first ``limit`` index entries of every shard, in index order, one page per shard.

    ``shard_key`` is ``(attribute, shard number -> value)``; ``condition`` (``" AND ..."``) and
    ``values`` add a sort-key condition. ``index`` ``None`` queries the table itself.
    """
    attribute, value_of = shard_key

    async def page(n: int) -> Page:
        items, more = await db.query(
            table,
            f"{attribute} = :shard{condition}",
            {":shard": S(value_of(n)), **(values or {})},
            index=index,
            limit=limit,
        )
        return items, more is not None

    return list(await asyncio.gather(*(page(n) for n in range(shards))))


async def first_due(
    db: Dynamo,
    table: str,
    index: str,
    shards: int,
    shard_key: tuple[str, Callable[[int], str]],
    sort_attribute: str,
    id_attribute: str,
    *,
    upper: int,
    limit: int,
) -> list[DueEntry]:
    """The first ``limit`` entries with ``sort_attribute <= upper``, across all shards, in
    exact ``(sort, tenant_id, id)`` order.

    A shard orders only by its numeric sort key, so a page that stopped inside a run of equal
    values at the merged cut may miss run members with a smaller ``(tenant, id)``; those shards'
    runs are read whole (rare, and bounded by the run) before cutting.
    """
    attribute, value_of = shard_key
    pages = await query_shards(
        db,
        table,
        index,
        shards,
        shard_key,
        condition=f" AND {sort_attribute} <= :upper",
        values={":upper": N(upper)},
        limit=limit,
    )

    def entry(item: Item) -> DueEntry:
        return (get_n(item, sort_attribute), get_s(item, "tenant_id"), get_s(item, id_attribute))

    entries = sorted({entry(i) for items, _ in pages for i in items})
    if len(entries) < limit:
        return entries
    cut = entries[limit - 1][0]
    tied = [
        n
        for n, (items, more) in enumerate(pages)
        if more and items and get_n(items[-1], sort_attribute) == cut
    ]
    if tied:
        runs = await asyncio.gather(
            *(
                db.query_all(
                    table,
                    f"{attribute} = :shard AND {sort_attribute} = :cut",
                    {":shard": S(value_of(n)), ":cut": N(cut)},
                    index=index,
                )
                for n in tied
            )
        )
        entries = sorted(set(entries) | {entry(i) for run in runs for i in run})
    return entries[:limit]


def by_tenant_and_id(pages: list[Page], id_attribute: str, limit: int) -> list[tuple[str, str]]:
    """The first ``limit`` distinct ``(tenant, id)`` of the pages, in that order."""
    found = {(get_s(i, "tenant_id"), get_s(i, id_attribute)) for items, _ in pages for i in items}
    return sorted(found)[:limit]
