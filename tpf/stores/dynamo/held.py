"""``DynamoHeldCompletionStore``: held channel completions as items of ``tpf_await_interaction``.

A hold is one item in a reserved partition of the interaction table (``tenant_id`` =
``#held#{shard}``, ``interaction_id`` = :func:`~tpf.stores.rules.hold_key`), so it needs no
table or index of its own (nor a schema upgrade): ``hold`` is one conditional ``PutItem``,
``release`` one ``DeleteItem``, ``list`` one ``Query`` per shard on the table itself, never a
Scan. The items carry none of the index attributes, so no index of the table sees them, and
``hold_json`` tells them apart from interactions.
"""

from __future__ import annotations

import heapq
from typing import Any

import msgspec

from tpf.config.settings import Settings
from tpf.core.records import HeldCompletion
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo
from tpf.stores.dynamo.codec import Item, S, get_s, to_json
from tpf.stores.dynamo.sharded import query_shards
from tpf.stores.rules import hold_key

_decode = msgspec.json.Decoder(HeldCompletion).decode


class DynamoHeldCompletionStore:
    def __init__(self, client: Any, settings: Settings) -> None:
        self._db = Dynamo(client)
        self._table = settings.dynamo.await_interaction_table
        self._shards = max(1, settings.dynamo.shards)

    def _key(self, tenant_id: str, handle_kind: str, handle: str) -> Item:
        key = hold_key(tenant_id, handle_kind, handle)
        shard = keys.shard_of(tenant_id, key, self._shards)
        return {"tenant_id": S(keys.held_partition(shard)), "interaction_id": S(key)}

    async def hold(self, held: HeldCompletion) -> bool:
        item = self._key(held.tenant_id, held.handle_kind, held.handle)
        item["hold_json"] = S(to_json(held))
        try:
            await self._db.put_item(
                self._table, item, condition="attribute_not_exists(interaction_id)"
            )
        except CheckFailed:
            return False  # held already: the first hold wins
        return True

    async def list(self, limit: int) -> list[HeldCompletion]:
        if limit <= 0:
            return []
        pages = await query_shards(
            self._db,
            self._table,
            None,  # the table's own key: the shard partition, sorted by hold key
            self._shards,
            ("tenant_id", keys.held_partition),
            limit=limit,
        )
        # Each shard answers its first ``limit`` keys in key order: the first ``limit`` of all
        # shards are among them.
        found = [
            (get_s(item, "interaction_id"), get_s(item, "hold_json"))
            for items, _ in pages
            for item in items
            if "hold_json" in item
        ]
        return [_decode(data) for _, data in heapq.nsmallest(limit, found)]

    async def release(self, tenant_id: str, handle_kind: str, handle: str) -> None:
        await self._db.delete_item(self._table, self._key(tenant_id, handle_kind, handle))
