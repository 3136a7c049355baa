"""``DynamoItemStore``: an expanded execution's items in ``tpf_execution_item``.

One partition per execution: hash key ``execution_key`` (:func:`~tpf.stores.dynamo.keys.
item_partition`, the length-prefixed ``tenant, execution`` pair, so no ``#`` in an id can make
two executions share a partition), range key ``item_index`` (N), so a Query on the partition
reads items in index order from any ``start``. Beside the keys each item carries ``status`` and
``version`` (for filters and conditions), the record as JSON in ``record_json``, and
``ttl_epoch_s`` once the execution's retention is set (the table's native TTL then deletes the
items with the execution; an item without it never expires).

Requests: ``insert_missing`` concurrent ``TransactWriteItems`` of up to 100 puts, each
conditioned on its item being absent (``BatchWriteItem`` cannot be conditional, and one
``PutItem`` per item is a hundred times the requests); a cancelled transaction (some items
exist: a re-run expansion) applied nothing, so the items whose condition held are then put one
by one with the same condition, 25 at a time concurrently. A transaction costs two write units
per item and is kept under DynamoDB's 4 MB. ``get`` one ``GetItem``; ``compare_and_set`` one
conditional ``PutItem`` (or a put of a joint transaction, ``replace_action``); ``page`` one
consistent ``Query`` per page of reads (a status filter is a FilterExpression, applied to what
each read returns); ``counts`` a ``Query`` projecting ``status``, paged;
``delete_for_execution`` that Query for keys, then ``BatchWriteItem`` deletes. Never a Scan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

import msgspec

from tpf.config.settings import Settings
from tpf.core.errors import RetryableError
from tpf.core.items import ItemStatus, StreamItem
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo, TransactionCanceled
from tpf.stores.dynamo.codec import Item, N, S, get_s, to_json

_decode = msgspec.json.Decoder(StreamItem).decode

_TRANSACTION_MAX = 100  # TransactWriteItems' limit of actions
# TransactWriteItems' 4 MB limit, with room for the keys and attribute names of each row.
_TRANSACTION_BYTES = 3_500_000
_ROW_OVERHEAD = 200
_CONCURRENCY = 25  # conditional puts in flight at once when a transaction falls back
_FILTERED_READ = 1000  # items one filtered Query reads (most may not match the status)
_NAMES = {"#s": "status"}  # ``status`` is a DynamoDB reserved word
_KEY_CONDITION = "execution_key = :k AND item_index >= :start"


def _key(tenant_id: str, execution_id: str, item_index: int) -> Item:
    return {
        "execution_key": S(keys.item_partition(tenant_id, execution_id)),
        "item_index": N(item_index),
    }


def _item(item: StreamItem) -> Item:
    stored = _key(item.tenant_id, item.execution_id, item.item_index)
    stored["status"] = S(item.status.value)
    stored["version"] = N(item.version)
    stored["record_json"] = S(to_json(item))
    if item.ttl_epoch_s > 0:
        # Only a set retention: native TTL would delete an item whose attribute is 0 at once.
        stored["ttl_epoch_s"] = N(item.ttl_epoch_s)
    return stored


def _transactions(items: list[StreamItem]) -> list[list[Item]]:
    """The rows of ``items``, cut into transactions within DynamoDB's bounds (actions per
    transaction, bytes per transaction)."""
    chunks: list[list[Item]] = []
    size = 0
    for item in items:
        row = _item(item)
        row_size = len(row["record_json"]["S"]) + _ROW_OVERHEAD
        if (
            not chunks
            or len(chunks[-1]) >= _TRANSACTION_MAX
            or size + row_size > _TRANSACTION_BYTES
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row_size
    return chunks


async def _settled(writes: list[Coroutine[Any, Any, int]]) -> int:
    """Run ``writes`` concurrently and sum what they inserted. Every one is awaited to its end
    (``return_exceptions``) before the first failure is raised as it is (the store's own
    error), so none is left running behind the caller's back."""
    total = 0
    for result in await asyncio.gather(*writes, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
        total += result
    return total


def _decode_item(stored: Item) -> StreamItem:
    return _decode(get_s(stored, "record_json"))


class DynamoItemStore:
    """Stream items in the ``execution_item_table`` (one partition per execution)."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self._db = Dynamo(client)
        self._table = settings.dynamo.execution_item_table

    async def insert_missing(self, items: Sequence[StreamItem]) -> int:
        # The first of duplicate keys in one call wins, as in the other stores (two concurrent
        # puts of one key would let either win).
        unique: dict[tuple[str, str, int], StreamItem] = {}
        for item in items:
            unique.setdefault((item.tenant_id, item.execution_id, item.item_index), item)
        # A call's transactions (~10 for a page of 1,000) run concurrently: they touch
        # disjoint items, so they cannot conflict with one another.
        return await _settled(
            [self._insert_chunk(chunk) for chunk in _transactions(list(unique.values()))]
        )

    async def _insert_chunk(self, chunk: list[Item]) -> int:
        """One conditional transaction; if it is cancelled (an item is stored already, or a
        concurrent writer holds one), nothing of it applied, and each item whose condition
        did not fail is put on its own, conditionally, so exactly the absent ones are stored."""
        condition = "attribute_not_exists(item_index)"
        try:
            await self._db.transact_write(
                [
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": row,
                            "ConditionExpression": condition,
                        }
                    }
                    for row in chunk
                ]
            )
        except TransactionCanceled as exc:
            rest = [row for i, row in enumerate(chunk) if not exc.failed(i)]
        except RetryableError:  # cancelled by contention only: no condition failed
            rest = chunk
        else:
            return len(chunk)
        inserted = 0
        for i in range(0, len(rest), _CONCURRENCY):
            inserted += await _settled([self._put_new(row) for row in rest[i : i + _CONCURRENCY]])
        return inserted

    async def _put_new(self, row: Item) -> int:
        try:
            await self._db.put_item(self._table, row, condition="attribute_not_exists(item_index)")
        except CheckFailed:
            return 0  # stored already: its progress is kept
        return 1

    async def get(self, tenant_id: str, execution_id: str, item_index: int) -> StreamItem | None:
        stored = await self._db.get_item(self._table, _key(tenant_id, execution_id, item_index))
        return None if stored is None else _decode_item(stored)

    async def page(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        start: int,
        limit: int,
        status: ItemStatus | None = None,
    ) -> list[StreamItem]:
        if limit <= 0:
            return []
        values: Item = {":k": S(keys.item_partition(tenant_id, execution_id)), ":start": N(start)}
        if status is not None:
            values[":status"] = S(status.value)
        found: list[StreamItem] = []
        last: Item | None = None
        while len(found) < limit:
            wanted = limit - len(found)
            # Limit bounds what a Query reads, before its filter: unfiltered, exactly what is
            # still wanted; filtered, a full read, so sparse matches cost few requests.
            rows, last = await self._db.query(
                self._table,
                _KEY_CONDITION,
                values,
                names=None if status is None else _NAMES,
                limit=wanted if status is None else max(wanted, _FILTERED_READ),
                consistent=True,  # items move by compare-and-set: read what was committed
                start=last,
                filter=None if status is None else "#s = :status",
            )
            found.extend(_decode_item(row) for row in rows[:wanted])
            if last is None:
                break
        return found

    async def compare_and_set(self, item: StreamItem, expected_version: int) -> StreamItem | None:
        try:
            await self._db.put_item(
                self._table,
                _item(item),
                # An absent item has no version, so the condition fails for it too.
                condition="version = :expected",
                values={":expected": N(expected_version)},
            )
        except CheckFailed:
            return None
        return item

    def replace_action(self, item: StreamItem, expected_version: int) -> Item:
        """:meth:`compare_and_set` as a transaction's put (:mod:`.await_commits`)."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": _item(item),
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": N(expected_version)},
            }
        }

    async def counts(self, tenant_id: str, execution_id: str) -> dict[ItemStatus, int]:
        rows = await self._partition(tenant_id, execution_id, "#s", _NAMES)
        counts: dict[ItemStatus, int] = {}
        for row in rows:
            status = ItemStatus(get_s(row, "status"))
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def delete_for_execution(self, tenant_id: str, execution_id: str) -> int:
        rows = await self._partition(tenant_id, execution_id, "execution_key, item_index", None)
        await self._db.batch_delete(self._table, rows)  # the projected rows are the keys
        return len(rows)

    async def _partition(
        self, tenant_id: str, execution_id: str, projection: str, names: dict[str, str] | None
    ) -> list[Item]:
        """Every item of the execution, projected (one Query page per 1 MB read)."""
        return await self._db.query_all(
            self._table,
            "execution_key = :k",
            {":k": S(keys.item_partition(tenant_id, execution_id))},
            names=names,
            consistent=True,
            projection=projection,
        )
