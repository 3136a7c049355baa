"""``DynamoExecutionStore``: executions in ``tpf_execution`` + ``tpf_execution_key``.

Requests per operation (happy path): ``create_or_get`` one ``TransactWriteItems`` (execution +
key row, both ``attribute_not_exists``; a duplicate costs one more ``GetItem``), ``get`` one
``GetItem``, ``compare_and_set`` one conditional ``PutItem``, ``claim_lease`` and
``renew_lease`` one conditional ``UpdateItem`` returning ``ALL_NEW``, ``find_due`` and
``find_dead_letters`` one ``Query`` per shard (concurrently) plus one ``BatchGetItem``.
Chunked payloads add their own reads and writes (see :mod:`.payloads`), cached per process.

Due executions are found through the sparse, sharded ``execution-due`` index (``due_shard``
H, ``next_due_epoch_ms`` N R): never a Scan (the original's GAP), never one hot partition. The
index queries live in the base class, :class:`~.execution_indexes.ExecutionIndexes`.

Retention: ``ttl_epoch_s`` is DynamoDB's native TTL on the execution, key and payload tables,
so only a terminal execution's items carry it (see ``native_ttl``). The commit that makes an
execution terminal is one transaction that also puts the TTL on its key row and payload chunks;
a commit that makes it live again (a re-drive), or the first commit of an item written by an
older version with a submit-time TTL, removes the TTL from the key row and chunks first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Any

import msgspec
from msgspec.structs import replace

from tpf.config.settings import Settings
from tpf.core.errors import Conflict, RetryableError
from tpf.core.records import ExecutionRecord
from tpf.core.search import ExecutionPage, ExecutionQuery, SearchKey, decode_cursor
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo, TransactionCanceled
from tpf.stores.dynamo.codec import Item, N, S, get_n, get_s
from tpf.stores.dynamo.execution_indexes import ExecutionIndexes
from tpf.stores.dynamo.execution_items import (
    NAMES,
    STATUS_NAMES,
    TTL_EXPIRED,
    TTL_LIVE,
    base_record,
    delete_expired,
    expired_values,
    item_expired,
    key_item,
    key_of,
    live_values,
    native_ttl,
    payload_refs,
    retake_key,
    split_payloads,
    to_item,
)
from tpf.stores.dynamo.execution_leases import ExecutionLeases, Seen
from tpf.stores.dynamo.payloads import PayloadRef, PayloadStore
from tpf.stores.dynamo.search import SearchIndexes, records_page
from tpf.stores.dynamo.status_counts import COUNTED, count_action, counter_keys, total_counts

_CREATE_ATTEMPTS = 4  # key takeovers lost to concurrent submitters before giving up
_TRANSACT_MAX = 100  # TransactWriteItems' limit of actions
_KEY_IS_OURS = "attribute_not_exists(tenant_execution_key) OR execution_id = :id"


def _seen_of(record: ExecutionRecord) -> Seen:
    return (record.version, record.status.value, True)


def _uncount(table: str, shards: int, item: Item) -> list[Item]:
    """The counter action of deleting ``item`` (none if it was never counted)."""
    if COUNTED not in item:
        return []
    tenant_id, execution_id = get_s(item, "tenant_id"), get_s(item, "execution_id")
    action = count_action(table, shards, tenant_id, execution_id, get_s(item, "status"), None)
    return [] if action is None else [action]


class DynamoExecutionStore(ExecutionLeases, ExecutionIndexes):
    def __init__(self, client: Any, settings: Settings) -> None:
        self._db = Dynamo(client)
        self._seen = OrderedDict()
        self._search_shards = max(1, settings.dynamo.search_shards)
        self._search = SearchIndexes(
            settings.dynamo.index_execution_search,
            settings.dynamo.index_execution_search_status,
            settings.dynamo.index_execution_search_pipeline,
            self._search_shards,
        )
        self._table = settings.dynamo.execution_table
        self._keys = settings.dynamo.execution_key_table
        self._due_index = settings.dynamo.index_execution_due
        self._dead_letter_index = settings.dynamo.index_execution_dead_letters
        self._shards = max(1, settings.dynamo.shards)
        self._payloads = PayloadStore(self._db, settings.dynamo.execution_payload_table)

    # ------------------------------------------------------------------ encoding

    async def _item(self, record: ExecutionRecord) -> Item:
        record_json, moved = split_payloads(record)
        refs: dict[str, PayloadRef] = {}
        for slot, data in moved.items():
            refs[slot] = await self._payloads.put(
                record.tenant_id, record.execution_id, slot, data, native_ttl(record)
            )
        return to_item(record, record_json, refs, self._shards, self._search_shards)

    async def _record(self, item: Item) -> ExecutionRecord:
        self._remember_item(item)
        record = base_record(item)
        refs = payload_refs(item)
        if not refs:
            return record
        changes = {
            f"{slot}_payload": msgspec.json.decode(await self._payloads.get(ref))
            for slot, ref in refs.items()
        }
        return replace(record, **changes)

    # ------------------------------------------------------------------ create and read

    async def create_or_get(
        self, record: ExecutionRecord, now_ms: int
    ) -> tuple[ExecutionRecord, bool]:
        put_execution = {
            "Put": {
                "TableName": self._table,
                "Item": await self._item(record),
                # A record whose TTL passed is absent: its id may be taken over.
                "ConditionExpression": f"attribute_not_exists(execution_id) OR {TTL_EXPIRED}",
                "ExpressionAttributeNames": STATUS_NAMES,
                "ExpressionAttributeValues": expired_values(now_ms),
            }
        }
        key_row = key_item(record)
        put_key = {
            "Put": {
                "TableName": self._keys,
                "Item": key_row,
                "ConditionExpression": "attribute_not_exists(tenant_execution_key)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        count = count_action(
            self._table,
            self._search_shards,
            record.tenant_id,
            record.execution_id,
            None,
            record.status.value,
        )
        counted = [] if count is None else [count]
        for _ in range(_CREATE_ATTEMPTS):
            try:
                await self._db.transact_write([put_execution, put_key, *counted])
                self._remember(record.tenant_id, record.execution_id, _seen_of(record))
                return record, False
            except TransactionCanceled as canceled:
                if not canceled.failed(1):
                    raise Conflict(f"execution id {record.execution_id} already exists") from None
                old_key = canceled.items[1] or await self._db.get_item(
                    self._keys, {"tenant_execution_key": key_row["tenant_execution_key"]}
                )
            if old_key is None:
                continue  # the key was freed meanwhile (lazy expiry elsewhere): try again
            old_id = get_s(old_key, "execution_id")
            old = await self._db.get_item(self._table, key_of(record.tenant_id, old_id))
            owned = old is not None and get_s(old, "execution_key") == record.execution_key
            if old is not None and owned and not item_expired(old, now_ms):
                return await self._record(old), True
            # The key names an expired, missing or re-keyed execution: take it over atomically,
            # conditional on it still naming the execution we looked at.
            actions = [put_execution, retake_key(self._keys, key_row, old_id), *counted]
            if old is not None and owned and old_id != record.execution_id:
                actions.append(
                    delete_expired(self._table, key_of(record.tenant_id, old_id), now_ms)
                )
                actions += _uncount(self._table, self._search_shards, old)
            try:
                await self._db.transact_write(actions)
                self._remember(record.tenant_id, record.execution_id, _seen_of(record))
                return record, False
            except TransactionCanceled as lost:
                if lost.failed(0) and not lost.failed(1):
                    raise Conflict(f"execution id {record.execution_id} already exists") from None
        raise RetryableError(f"execution key {record.execution_key!r} is contended; try again")

    async def _purge(self, item: Item, now_ms: int) -> None:
        """Lazy expiry (spec §3.9): best-effort delete of an expired row and its key row."""
        tenant_id, execution_id = get_s(item, "tenant_id"), get_s(item, "execution_id")
        key_row = {
            "tenant_execution_key": S(keys.execution_key(tenant_id, get_s(item, "execution_key")))
        }

        async def delete(
            table: str, key: Item, condition: str, values: Item, names: dict[str, str] | None
        ) -> None:
            # A failed condition: renewed, replaced or already gone, nothing to clean.
            with contextlib.suppress(CheckFailed):
                await self._db.delete_item(
                    table, key, condition=condition, names=names, values=values
                )

        async def delete_counted() -> None:
            # The row and its count leave together; a lost condition leaves both.
            action = delete_expired(self._table, key_of(tenant_id, execution_id), now_ms)
            with contextlib.suppress(TransactionCanceled):
                await self._db.transact_write(
                    [action, *_uncount(self._table, self._search_shards, item)]
                )

        await asyncio.gather(
            delete_counted(),
            delete(self._keys, key_row, "execution_id = :id", {":id": S(execution_id)}, None),
        )

    async def get(self, tenant_id: str, execution_id: str, now_ms: int) -> ExecutionRecord | None:
        item = await self._db.get_item(self._table, key_of(tenant_id, execution_id))
        if item is None:
            return None
        if item_expired(item, now_ms):
            await self._purge(item, now_ms)
            return None
        return await self._record(item)

    # ------------------------------------------------------------------ conditional writes

    async def compare_and_set(
        self, record: ExecutionRecord, expected_version: int
    ) -> ExecutionRecord | None:
        seen = await self._state_at(record.tenant_id, record.execution_id, expected_version)
        if seen is None:
            return None  # not stored at that version: the write would lose anyway
        count = self._count(record, seen)
        counted = [] if count is None else [count]
        item = await self._item(record)
        if native_ttl(record) > 0:
            committed = await self._commit_retained(record, item, expected_version, counted)
        else:
            committed = await self._commit_kept(record, item, expected_version, counted)
        if committed is not None:
            self._remember(record.tenant_id, record.execution_id, _seen_of(record))
        return committed

    def _guarded(self, item: Item, expected_version: int, now_ms: int) -> Item:
        """The conditional put of ``item``: at ``expected_version`` and not expired."""
        # The record's own updated_at is the writer's clock for the TTL guard: the lifecycle
        # functions stamp it with "now" on every change.
        return {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": f"#version = :expected AND {TTL_LIVE}",
            "ExpressionAttributeNames": NAMES,
            "ExpressionAttributeValues": {":expected": N(expected_version), **live_values(now_ms)},
        }

    async def _commit_retained(
        self, record: ExecutionRecord, item: Item, expected_version: int, counted: list[Item]
    ) -> ExecutionRecord | None:
        """Commit a terminal record and start its retention on every item it owns, atomically:
        the key row (recreated if an older version's TTL let DynamoDB delete it) and the
        payload chunks. One ``TransactWriteItems`` instead of one ``PutItem``."""
        put = self._guarded(item, expected_version, record.updated_at_epoch_ms)
        key_row = {
            "TableName": self._keys,
            "Item": key_item(record),
            "ConditionExpression": _KEY_IS_OURS,
            "ExpressionAttributeValues": {":id": S(record.execution_id)},
        }
        parts = [
            k for ref in payload_refs(item).values() for k in await self._payloads.part_keys(ref)
        ]
        chunks = self._payloads.ttl_actions(parts, record.ttl_epoch_s)
        if 2 + len(counted) + len(chunks) > _TRANSACT_MAX:
            chunks = []  # a payload of ~25 MB: its chunks keep no TTL (a leak, never a loss)
        try:
            await self._db.transact_write([{"Put": put}, {"Put": key_row}, *counted, *chunks])
            return record
        except TransactionCanceled as canceled:
            if canceled.failed(0):
                return None  # moved on meanwhile (or expired): the usual lost compare-and-set
        # The key row names another execution (the key was reused after an older version let
        # it expire) or a chunk is missing: commit the record alone; what keeps no TTL leaks.
        return record if await self._put_guarded(item, put, counted) else None

    async def _commit_kept(
        self, record: ExecutionRecord, item: Item, expected_version: int, counted: list[Item]
    ) -> ExecutionRecord | None:
        """Commit a record that must not expire (a live one): one ``PutItem`` while the stored
        item has no TTL, the common case. Otherwise (a re-drive of a terminal execution, or an
        item an older version wrote with a submit-time TTL) the TTL is first removed from the
        key row and the chunks, so nothing the live execution needs can be deleted by DynamoDB
        even if this process dies between the writes."""
        put: Item = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": "#version = :expected AND attribute_not_exists(ttl_epoch_s)",
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":expected": N(expected_version)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        old: Item | None
        try:
            # A status change moves its count in the same transaction (.status_counts).
            if counted:
                await self._db.transact_write([{"Put": put}, *counted])
            else:
                await self._db.put_item(
                    self._table,
                    item,
                    condition=put["ConditionExpression"],
                    names=put["ExpressionAttributeNames"],
                    values=put["ExpressionAttributeValues"],
                    return_old_on_failure=True,
                )
            return record
        except (CheckFailed, TransactionCanceled) as failed:
            found = failed.item if isinstance(failed, CheckFailed) else failed.items[0]
            old = found or await self._db.get_item(
                self._table, key_of(record.tenant_id, record.execution_id)
            )
        now_ms = record.updated_at_epoch_ms
        if (
            old is None
            or get_n(old, "version") != expected_version
            or "ttl_epoch_s" not in old
            or item_expired(old, now_ms)
        ):
            return None
        await self._keep_key_row(record)
        await asyncio.gather(*(self._payloads.keep(ref) for ref in payload_refs(item).values()))
        guarded = self._guarded(item, expected_version, now_ms)
        return record if await self._put_guarded(item, guarded, counted) else None

    async def _put_guarded(self, item: Item, put: Item, counted: list[Item]) -> bool:
        """Write ``item`` alone (with its count move, if any) under the condition of a guarded
        transaction ``put`` (:meth:`_guarded`); False when the condition failed."""
        if counted:
            try:
                await self._db.transact_write([{"Put": put}, *counted])
            except TransactionCanceled as canceled:
                if canceled.failed(0):
                    return False
                raise
            return True
        try:
            await self._db.put_item(
                self._table,
                item,
                condition=put["ConditionExpression"],
                names=NAMES,
                values=put["ExpressionAttributeValues"],
            )
        except CheckFailed:
            return False
        return True

    async def _keep_key_row(self, record: ExecutionRecord) -> None:
        """Write the key row without a TTL, unless the key names another execution by now."""
        with contextlib.suppress(CheckFailed):
            await self._db.put_item(
                self._keys,
                key_item(record),
                condition=_KEY_IS_OURS,
                values={":id": S(record.execution_id)},
            )

    # ------------------------------------------------------------------ operator queries

    async def count_by_status(self) -> dict[str, int]:
        # One BatchGetItem of the counter items (.status_counts), never a Scan.
        return total_counts(
            await self._db.batch_get(self._table, counter_keys(self._search_shards))
        )

    async def search(
        self, query: ExecutionQuery, limit: int, cursor: str | None, now_ms: int
    ) -> ExecutionPage:
        after = decode_cursor(cursor, SearchKey)
        return await records_page(
            self._db, self._table, self._search, self._record, query, limit, after, now_ms
        )
