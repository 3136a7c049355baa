"""``DynamoAwaitStore``: interactions in ``tpf_await_interaction`` + ``tpf_await_interaction_key``.

Every interaction item carries the spec's GSI keys (§9): ``query_unit_*`` always, and while it is
pending the sparse ``query_pending_{tenant,assignee,group,step}_key`` + deadline sort and the
overdue index's ``query_deadline_*``. Leaving pending drops them, so each index holds exactly
what its query may return. The overdue partition is sharded (``active#{n}``, the original had
one hot ``"active"`` key) and so is our ``unapplied`` index (resolved but not yet applied to
its execution), which the awaits supervisor polls.

Requests: ``create_or_get`` one ``TransactWriteItems`` (interaction + correlation row);
``get`` one ``GetItem``; ``get_by_correlation`` two; ``compare_and_set`` one conditional
``PutItem`` (a correlation change, which never happens on the engine's path, is a transaction);
``query_pending`` one ``Query`` page per ``min(max(3 x limit, limit), 1000)`` candidates;
``find_overdue``/``find_unapplied``/``find_undispatched`` one ``Query`` per shard plus one
``BatchGetItem``.

The dispatch outbox (pending interactions not yet published to their channel) is the same
sharded ``unapplied`` index under ``undispatched#{n}`` partitions: an item is in it while pending,
in the unapplied partitions once resolved, so the two never meet.
"""

from __future__ import annotations

from typing import Any

from tpf.config.settings import Settings
from tpf.core import interactions as inter
from tpf.core.errors import Conflict, RetryableError
from tpf.core.records import AwaitInteraction
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo, TransactionCanceled
from tpf.stores.dynamo.codec import (
    BOOL,
    Item,
    N,
    S,
    get_s,
    interaction_from_json,
    put_opt_s,
    to_json,
)
from tpf.stores.dynamo.interaction_queries import InteractionQueries
from tpf.stores.dynamo.sharded import by_tenant_and_id, query_shards
from tpf.stores.rules import is_unapplied

_PAGE_MAX = 1000
_DISPATCH_ATTEMPTS = 5  # lost races with completions before mark_dispatched gives up


def _key(tenant_id: str, interaction_id: str) -> Item:
    return {"tenant_id": S(tenant_id), "interaction_id": S(interaction_id)}


def _lookup(tenant_id: str, correlation_id: str) -> Item:
    return {"lookup_key": S(keys.correlation_lookup(tenant_id, correlation_id))}


def _decode(item: Item) -> AwaitInteraction:
    return interaction_from_json(get_s(item, "record_json"))


class DynamoAwaitStore(InteractionQueries):
    def __init__(self, client: Any, settings: Settings) -> None:
        self._db = Dynamo(client)
        self._table = settings.dynamo.await_interaction_table
        self._keys = settings.dynamo.await_interaction_key_table
        self._shards = max(1, settings.dynamo.shards)
        s = settings
        self._pending_indexes = {
            "assignee": (s.dynamo.index_pending_by_assignee, "query_pending_assignee_key"),
            "group": (s.dynamo.index_pending_by_group, "query_pending_group_key"),
            "step": (s.dynamo.index_pending_by_step, "query_pending_step_key"),
            "tenant": (s.dynamo.index_pending_by_tenant, "query_pending_tenant_key"),
        }
        self._deadline_index = s.dynamo.index_pending_by_deadline
        self._execution_index = s.dynamo.index_interaction_by_execution
        self._unapplied_index = s.dynamo.index_unapplied

    def _item(self, i: AwaitInteraction) -> Item:
        item: Item = {
            "tenant_id": S(i.tenant_id),
            "interaction_id": S(i.interaction_id),
            "execution_id": S(i.execution_id),
            "step_id": S(i.step_id),
            "correlation_id": S(i.correlation_id),
            "unit_id": S(i.unit_id),
            "version": N(i.version),
            "status": S(i.status.value),
            "deadline_epoch_ms": N(i.deadline_epoch_ms),
            "applied": BOOL(i.applied),
            "record_json": S(to_json(i)),
            "query_unit_key": S(keys.scoped(i.tenant_id, i.unit_id)),
            "query_unit_sort": S(keys.unit_sort(i.item_index, i.causation_id, i.interaction_id)),
            "query_execution_key": S(keys.execution_partition(i.tenant_id, i.execution_id)),
            "query_execution_sort": S(keys.search_sort(i.created_at_epoch_ms, i.interaction_id)),
        }
        put_opt_s(item, "assignee", i.assignee)
        put_opt_s(item, "group_name", i.group)
        # No ``ttl_epoch_s`` attribute, even for an interaction an older version wrote with one
        # (deadline + 1 day): the execution may need it long after that (a re-drive re-reads the
        # request, the steps after the await its response), so nothing may let DynamoDB delete
        # it on a table where native TTL is on. The interaction table has none (schema.py).
        shard = keys.shard_of(i.tenant_id, i.interaction_id, self._shards)
        if i.pending:
            item["query_pending_tenant_key"] = S(i.tenant_id)
            item["query_pending_deadline_sort"] = S(
                keys.pending_sort(i.deadline_epoch_ms, i.interaction_id)
            )
            if i.assignee is not None:
                item["query_pending_assignee_key"] = S(keys.scoped(i.tenant_id, i.assignee))
            if i.group is not None:
                item["query_pending_group_key"] = S(keys.scoped(i.tenant_id, i.group))
            item["query_pending_step_key"] = S(keys.scoped(i.tenant_id, i.step_id))
            item["query_deadline_key"] = S(keys.deadline_shard(shard))
            item["query_deadline_sort"] = S(
                keys.deadline_sort(i.deadline_epoch_ms, i.tenant_id, i.interaction_id)
            )
            if i.undispatched:
                # The dispatch outbox shares the unapplied index (its partitions are disjoint:
                # pending vs resolved), so it needs no index of its own nor a schema upgrade.
                item["unapplied_shard"] = S(keys.undispatched_shard(shard))
        elif is_unapplied(i):
            item["unapplied_shard"] = S(keys.unapplied_shard(shard))
        return item

    def _lookup_item(self, i: AwaitInteraction) -> Item:
        return {
            **_lookup(i.tenant_id, i.correlation_id),
            "tenant_id": S(i.tenant_id),
            "interaction_id": S(i.interaction_id),
        }

    # ------------------------------------------------------------------ create and read

    def create_actions(self, interaction: AwaitInteraction) -> list[Item]:
        """The two conditional puts that create ``interaction`` (item, then its correlation
        row): :meth:`create_or_get`'s transaction, or part of a park's (:mod:`.park`)."""
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item(interaction),
                    "ConditionExpression": "attribute_not_exists(interaction_id)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self._keys,
                    "Item": self._lookup_item(interaction),
                    "ConditionExpression": "attribute_not_exists(lookup_key)",
                }
            },
        ]

    async def create_or_get(self, interaction: AwaitInteraction) -> tuple[AwaitInteraction, bool]:
        try:
            await self._db.transact_write(self.create_actions(interaction))
        except TransactionCanceled as canceled:
            if canceled.failed(0):  # the interaction exists: idempotent create
                existing = canceled.items[0] or await self._db.get_item(
                    self._table, _key(interaction.tenant_id, interaction.interaction_id)
                )
                if existing is not None:
                    return _decode(existing), False
                raise RetryableError("interaction vanished while being created") from None
            raise Conflict(
                f"correlation id {interaction.correlation_id} is already in use"
            ) from None
        return interaction, True

    async def get(self, tenant_id: str, interaction_id: str) -> AwaitInteraction | None:
        item = await self._db.get_item(self._table, _key(tenant_id, interaction_id))
        return None if item is None else _decode(item)

    async def get_many(self, tenant_id: str, ids: list[str]) -> dict[str, AwaitInteraction]:
        # One consistent BatchGetItem per 100 keys, as strong as the GetItem it replaces.
        found = await self._fetch([(tenant_id, i) for i in dict.fromkeys(ids)])
        return {item.interaction_id: item for item in found}

    async def get_by_correlation(
        self, tenant_id: str, correlation_id: str
    ) -> AwaitInteraction | None:
        row = await self._db.get_item(self._keys, _lookup(tenant_id, correlation_id))
        if row is None:
            return None
        return await self.get(tenant_id, get_s(row, "interaction_id"))

    def replace_action(self, interaction: AwaitInteraction, expected_version: int) -> Item:
        """:meth:`compare_and_set`'s common case (same correlation id) as a transaction's put."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": self._item(interaction),
                "ConditionExpression": "#version = :expected AND correlation_id = :cid",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {
                    ":expected": N(expected_version),
                    ":cid": S(interaction.correlation_id),
                },
            }
        }

    async def compare_and_set(
        self, interaction: AwaitInteraction, expected_version: int
    ) -> AwaitInteraction | None:
        i = interaction
        item = self._item(i)
        values = {":expected": N(expected_version), ":cid": S(i.correlation_id)}
        try:
            # The correlation id is in the condition so that the common case (unchanged) is
            # one request and a change is noticed without reading first.
            await self._db.put_item(
                self._table,
                item,
                condition="#version = :expected AND correlation_id = :cid",
                names={"#version": "version"},
                values=values,
                return_old_on_failure=True,
            )
            return i
        except CheckFailed as failed:
            old = failed.item or await self._db.get_item(
                self._table, _key(i.tenant_id, i.interaction_id)
            )
        if old is None or int(old["version"]["N"]) != expected_version:
            return None
        return await self._move_correlation(i, item, expected_version, get_s(old, "correlation_id"))

    async def _move_correlation(
        self, i: AwaitInteraction, item: Item, expected_version: int, old_correlation: str
    ) -> AwaitInteraction | None:
        actions = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "#version = :expected",
                    "ExpressionAttributeNames": {"#version": "version"},
                    "ExpressionAttributeValues": {":expected": N(expected_version)},
                }
            },
            {
                "Put": {
                    "TableName": self._keys,
                    "Item": self._lookup_item(i),
                    "ConditionExpression": "attribute_not_exists(lookup_key)",
                }
            },
            {
                "Delete": {
                    "TableName": self._keys,
                    "Key": _lookup(i.tenant_id, old_correlation),
                    "ConditionExpression": "interaction_id = :id",
                    "ExpressionAttributeValues": {":id": S(i.interaction_id)},
                }
            },
        ]
        try:
            await self._db.transact_write(actions)
        except TransactionCanceled as canceled:
            if canceled.failed(1):
                raise Conflict(f"correlation id {i.correlation_id} is already in use") from None
            return None
        return i

    # ------------------------------------------------------------------ queries

    async def _fetch(self, ids: list[tuple[str, str]]) -> list[AwaitInteraction]:
        items = await self._db.batch_get(self._table, [_key(t, i) for t, i in ids])
        return [_decode(item) for item in items]

    async def find_overdue(self, now_ms: int, limit: int) -> list[AwaitInteraction]:
        if limit <= 0:
            return []
        pages = await query_shards(
            self._db,
            self._table,
            self._deadline_index,
            self._shards,
            ("query_deadline_key", keys.deadline_shard),
            condition=" AND query_deadline_sort < :upper",
            values={":upper": S(keys.deadline_upper_bound(now_ms))},
            limit=limit,
        )
        # The sort key starts with the padded deadline: string order is deadline order.
        entries = sorted(
            (
                get_s(i, "query_deadline_sort")[:19],
                get_s(i, "tenant_id"),
                get_s(i, "interaction_id"),
            )
            for items, _ in pages
            for i in items
        )
        # Fresh reads: the index lags, and the sweeper acts on what this returns.
        found = [
            i
            for i in await self._fetch([(tenant, iid) for _, tenant, iid in entries[:limit]])
            if i.pending and i.deadline_epoch_ms <= now_ms
        ]
        found.sort(key=lambda i: (i.deadline_epoch_ms, i.tenant_id, i.interaction_id))
        return found

    async def find_unapplied(self, limit: int) -> list[AwaitInteraction]:
        if limit <= 0:
            return []
        pages = await query_shards(
            self._db,
            self._table,
            self._unapplied_index,
            self._shards,
            ("unapplied_shard", keys.unapplied_shard),
            limit=limit,
        )
        ids = by_tenant_and_id(pages, "interaction_id", limit)
        found = [i for i in await self._fetch(ids) if is_unapplied(i)]
        found.sort(key=lambda i: (i.tenant_id, i.interaction_id))
        return found

    async def find_undispatched(self, limit: int) -> list[AwaitInteraction]:
        if limit <= 0:
            return []
        pages = await query_shards(
            self._db,
            self._table,
            self._unapplied_index,
            self._shards,
            ("unapplied_shard", keys.undispatched_shard),
            limit=limit,
        )
        ids = by_tenant_and_id(pages, "interaction_id", limit)
        found = [i for i in await self._fetch(ids) if i.undispatched]
        found.sort(key=lambda i: (i.tenant_id, i.interaction_id))
        return found

    async def mark_dispatched(
        self, tenant_id: str, interaction_id: str, now_ms: int, sent: AwaitInteraction | None = None
    ) -> AwaitInteraction | None:
        # The publisher's own copy first: its compare-and-set needs no read when nothing
        # wrote the interaction since (one GetItem per await saved); a lost race reads.
        hint = sent if sent is not None and inter.mark_dispatched(sent, now_ms) else None
        for _ in range(_DISPATCH_ATTEMPTS):
            stored, hint = hint or await self.get(tenant_id, interaction_id), None
            if stored is None:
                return None
            dispatched = inter.mark_dispatched(stored, now_ms)
            if dispatched is None:
                return stored
            if await self.compare_and_set(dispatched, stored.version) is not None:
                return dispatched
        raise RetryableError(f"interaction {interaction_id} is contended; try again")
