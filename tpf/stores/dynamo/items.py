"""``DynamoItemStore``: an expanded execution's items in ``tpf_execution_item``.

One partition per execution: hash key ``execution_key`` (:func:`~tpf.stores.dynamo.keys.
item_partition`, the length-prefixed ``tenant, execution`` pair, so no ``#`` in an id can make
two executions share a partition), range key ``item_index`` (N), so a Query on the partition
reads items in index order from any ``start``. Beside the keys each item carries ``status`` and
``version`` (for filters and conditions), the record as JSON in ``record_json``, and
``ttl_epoch_s`` once the execution's retention is set (the table's native TTL then deletes the
items with the execution; an item without it never expires).

Requests: ``insert_missing`` one conditional ``PutItem`` per item (``BatchWriteItem`` cannot be
conditional, and a ``TransactWriteItems`` fails whole on one existing item and is bounded at
4 MB), in chunks of :data:`_CONCURRENCY` run
concurrently; ``get`` one ``GetItem``; ``compare_and_set`` one
conditional ``PutItem``; ``page`` one consistent ``Query`` per page of reads (a status filter
is a FilterExpression, applied to what each read returns); ``counts`` a ``Query`` projecting
``status``, paged; ``delete_for_execution`` that Query for keys, then ``BatchWriteItem``
deletes. Never a Scan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec

from tpf.config.settings import Settings
from tpf.core.items import ItemStatus, StreamItem
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo
from tpf.stores.dynamo.codec import Item, N, S, get_s, to_json

_decode = msgspec.json.Decoder(StreamItem).decode

_CONCURRENCY = 25  # conditional puts of one insert_missing in flight at once
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
        pending = list(unique.values())
        inserted = 0
        # Chunks awaited whole (return_exceptions): a failure surfaces as the store's own error
        # once its chunk settled, and no put is left running behind the caller's back.
        for i in range(0, len(pending), _CONCURRENCY):
            chunk = pending[i : i + _CONCURRENCY]
            results = await asyncio.gather(
                *(self._put_new(item) for item in chunk), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                inserted += result
        return inserted

    async def _put_new(self, item: StreamItem) -> bool:
        try:
            await self._db.put_item(
                self._table, _item(item), condition="attribute_not_exists(item_index)"
            )
        except CheckFailed:
            return False  # stored already: its progress is kept
        return True

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
