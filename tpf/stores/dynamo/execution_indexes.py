"""The index side of ``DynamoExecutionStore``: due executions and dead letters.

Due executions and unpublished dead letters are found through sparse, sharded GSIs
(``execution-due``: ``due_shard`` H, ``next_due_epoch_ms`` N R; ``execution-dead-letters``):
one ``Query`` per shard, concurrently, plus one ``BatchGetItem`` for fresh records, never a
Scan. :class:`ExecutionIndexes` is the base of :class:`~.executions.DynamoExecutionStore`,
which provides the table, the record decoding and the expiry purge it uses.
"""

from __future__ import annotations

import asyncio

from tpf.core.errors import RetryableError
from tpf.core.lifecycle import is_claimable
from tpf.core.records import ExecutionRecord
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo
from tpf.stores.dynamo.codec import Item, N, get_n, opt_n
from tpf.stores.dynamo.execution_items import (
    base_record,
    dead_letter_update,
    item_expired,
    key_of,
)
from tpf.stores.dynamo.sharded import by_tenant_and_id, first_due, query_shards
from tpf.stores.rules import is_expired, without_dead_letter

_CLEAR_ATTEMPTS = 5
_PURGE_ROUNDS = 4  # find_due re-queries after purging expired hits, at most this often


class ExecutionIndexes:
    """Index queries over ``tpf_execution``; the subclass sets the attributes below."""

    _db: Dynamo
    _table: str
    _due_index: str
    _dead_letter_index: str
    _shards: int

    async def _record(self, item: Item) -> ExecutionRecord:
        """The full record of an item (chunked payloads read back)."""
        raise NotImplementedError

    async def _purge(self, item: Item, now_ms: int) -> None:
        """Delete an expired execution's items."""
        raise NotImplementedError

    async def _fetch(self, ids: list[tuple[str, str]]) -> list[Item]:
        return await self._db.batch_get(self._table, [key_of(t, e) for t, e in ids])

    async def find_due(self, now_ms: int, limit: int) -> list[ExecutionRecord]:
        if limit <= 0:
            return []
        live: list[Item] = []
        for _ in range(_PURGE_ROUNDS):
            entries = await first_due(
                self._db,
                self._table,
                self._due_index,
                self._shards,
                ("due_shard", keys.due_shard),
                "next_due_epoch_ms",
                "execution_id",
                upper=now_ms,
                limit=limit,
            )
            if not entries:
                return []
            items = await self._fetch([(t, e) for _, t, e in entries])
            expired = [i for i in items if item_expired(i, now_ms)]
            live = [i for i in items if not item_expired(i, now_ms)]
            if not expired:
                break
            # Purged rows leave the index, so the next round sees the ones behind them.
            await asyncio.gather(*(self._purge(i, now_ms) for i in expired))
        records = await asyncio.gather(*(self._record(i) for i in live))
        # The index is eventually consistent; the batch read is not: keep what is due now.
        due = [r for r in records if is_claimable(r, now_ms) and not is_expired(r, now_ms)]
        due.sort(key=lambda r: (r.next_due_epoch_ms, r.tenant_id, r.execution_id))
        return due[:limit]

    async def find_dead_letters(self, limit: int) -> list[ExecutionRecord]:
        if limit <= 0:
            return []
        pages = await query_shards(
            self._db,
            self._table,
            self._dead_letter_index,
            self._shards,
            ("dead_letter_shard", keys.dead_letter_shard),
            limit=limit,
        )
        items = await self._fetch(by_tenant_and_id(pages, "execution_id", limit))
        records = await asyncio.gather(*(self._record(i) for i in items))
        found = [r for r in records if r.dead_letters]
        found.sort(key=lambda r: (r.tenant_id, r.execution_id))
        return found

    async def clear_dead_letter(
        self, tenant_id: str, execution_id: str, transition_key: str
    ) -> bool:
        key = key_of(tenant_id, execution_id)
        for _ in range(_CLEAR_ATTEMPTS):
            item = await self._db.get_item(self._table, key)
            if item is None:
                return False
            # Chunked payloads stay where they are: only the JSON and the dead-letter attributes
            # change, and the lease attributes are left alone so a concurrent renewal survives.
            cleared = without_dead_letter(base_record(item), transition_key)
            if cleared is None:
                return False
            update, values = dead_letter_update(cleared)
            values |= {
                ":version": N(get_n(item, "version")),
                ":count": N(opt_n(item, "dead_letter_count")),
            }
            try:
                await self._db.update_item(
                    self._table,
                    key,
                    update,
                    condition="#version = :version AND dead_letter_count = :count",
                    names={"#version": "version"},
                    values=values,
                )
                return True
            except CheckFailed:
                continue  # changed under us: look again
        raise RetryableError(f"dead letter of {execution_id} is contended; try again")
