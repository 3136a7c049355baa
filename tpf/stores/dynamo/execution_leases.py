"""The lease side of ``DynamoExecutionStore``: claim and renew, and the status each id had.

A claim changes the status (QUEUED or WAIT_RETRY to RUNNING), so it moves a status count
(:mod:`.status_counts`) and must know the status it moves from: it reads the item (one
consistent ``GetItem``), decides with :func:`tpf.stores.rules.claimed`, and commits the lease
attributes with ``#version = :v`` plus the claim predicate as the condition, in one
``TransactWriteItems`` with the counter's ``ADD`` (a takeover of an expired RUNNING lease moves
no count and stays one ``UpdateItem``). The version condition makes the read-then-write safe:
every claim bumps the version, so of two racing claimers one loses. A refused claim costs the
read alone. Renewal changes no status and stays one conditional ``UpdateItem``.

``_seen`` remembers, per execution, the version, status and counted flag last read or written
by this process, so ``compare_and_set`` (which is handed only the new record) knows the status
it replaces without a read: a version names exactly one status, since every status change
bumps it. On a miss it reads the three attributes first.
"""

from __future__ import annotations

from collections import OrderedDict

from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.stores.dynamo.client import CheckFailed, Dynamo, TransactionCanceled
from tpf.stores.dynamo.codec import Item, N, S, get_n, get_s
from tpf.stores.dynamo.execution_items import NAMES, key_of, search_attributes
from tpf.stores.dynamo.status_counts import COUNTED, count_action, transact_counted
from tpf.stores.rules import claimed

_SEEN_MAX = 50_000  # executions whose last known state is remembered (about 5 MB at most)
Seen = tuple[int, str, bool]  # (version, status, counted)


class ExecutionLeases:
    """Claims, renewals and the per-id state cache; the subclass sets the attributes."""

    _db: Dynamo
    _table: str
    _search_shards: int
    _count_shards: int
    _seen: OrderedDict[tuple[str, str], Seen]

    async def _record(self, item: Item) -> ExecutionRecord:
        raise NotImplementedError

    async def _item(self, record: ExecutionRecord) -> Item:
        raise NotImplementedError

    async def commit_live_with(
        self, record: ExecutionRecord, expected_version: int, actions: list[Item]
    ) -> int | None:
        """Commit a live ``record`` at ``expected_version`` and ``actions`` in one transaction.

        ``actions`` go first; the put is fenced like ``compare_and_set``'s (version, no TTL on
        the stored item), with its status count. Returns ``None`` on success, else the index of
        the first action whose condition failed (``len(actions)`` for the execution's own put;
        nothing was written), or ``-1`` when the stored state is not known at that version.
        """
        seen = await self._state_at(record.tenant_id, record.execution_id, expected_version)
        if seen is None:
            return -1
        count = self._count(record, seen)
        put: Item = {
            "TableName": self._table,
            "Item": await self._item(record),
            "ConditionExpression": "#version = :expected AND attribute_not_exists(ttl_epoch_s)",
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":expected": N(expected_version)},
        }
        try:
            await self._transact([*actions, {"Put": put}, *([] if count is None else [count])])
        except TransactionCanceled as canceled:
            failed = [i for i in range(len(actions) + 1) if canceled.failed(i)]
            if not failed:
                raise
            return failed[0]
        self._remember(
            record.tenant_id, record.execution_id, (record.version, record.status.value, True)
        )
        return None

    async def _transact(self, actions: list[Item]) -> None:
        """``TransactWriteItems`` of ``actions``, retried on another counter shard when it
        only collided with another transaction on a counter item (.status_counts)."""
        await transact_counted(self._db, actions, self._count_shards)

    def _remember(self, tenant_id: str, execution_id: str, seen: Seen) -> None:
        key = (tenant_id, execution_id)
        self._seen[key] = seen
        self._seen.move_to_end(key)
        if len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)

    def _remember_item(self, item: Item) -> None:
        self._remember(
            get_s(item, "tenant_id"),
            get_s(item, "execution_id"),
            (get_n(item, "version"), get_s(item, "status"), COUNTED in item),
        )

    async def _state_at(self, tenant_id: str, execution_id: str, version: int) -> Seen | None:
        """The stored (version, status, counted) if the stored version is ``version``."""
        seen = self._seen.get((tenant_id, execution_id))
        if seen is None or seen[0] != version:
            item = await self._db.get_item(
                self._table,
                key_of(tenant_id, execution_id),
                projection="#version, #status, " + COUNTED,
                names=NAMES,
            )
            if item is None:
                return None
            seen = (get_n(item, "version"), get_s(item, "status"), COUNTED in item)
            self._remember(tenant_id, execution_id, seen)
        return seen if seen[0] == version else None

    def _count(self, record: ExecutionRecord, seen: Seen) -> Item | None:
        """The counter action of replacing the stored state ``seen`` with ``record``."""
        _, status, counted = seen
        return count_action(
            self._table,
            self._count_shards,
            record.tenant_id,
            record.execution_id,
            status if counted else None,
            record.status.value,
        )

    async def claim_lease(
        self, tenant_id: str, execution_id: str, owner: str, now_ms: int, lease_ms: int
    ) -> ExecutionRecord | None:
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")
        item = await self._db.get_item(self._table, key_of(tenant_id, execution_id))
        if item is None:
            return None
        old = await self._record(item)
        record = claimed(old, owner, now_ms, lease_ms)
        if record is None:
            return None
        expires = record.lease_expires_epoch_ms
        search = search_attributes(record, self._search_shards)
        update: Item = {
            "TableName": self._table,
            "Key": key_of(tenant_id, execution_id),
            "UpdateExpression": (
                "SET #status = :running, lease_owner = :owner, lease_expires_epoch_ms = :exp, "
                "next_due_epoch_ms = :exp, updated_at_epoch_ms = :now, #version = :new, "
                f"search_status_key = :ssk, search_sort = :sort, {COUNTED} = :one"
            ),
            # The version is the read's: nothing changed since, so the claim predicate the
            # read passed still holds (and a racing claimer's bump makes this one lose).
            "ConditionExpression": "#version = :version",
            "ExpressionAttributeNames": NAMES,
            "ExpressionAttributeValues": {
                ":running": S(ExecutionStatus.RUNNING.value),
                ":owner": S(owner),
                ":exp": N(expires),
                ":now": N(now_ms),
                ":new": N(record.version),
                ":version": N(old.version),
                ":ssk": search["search_status_key"],
                ":sort": search["search_sort"],
                ":one": N(1),
            },
        }
        count = self._count(record, (old.version, old.status.value, COUNTED in item))
        try:
            if count is None:
                await self._db.update_item(
                    self._table,
                    update["Key"],
                    update["UpdateExpression"],
                    condition=update["ConditionExpression"],
                    names=NAMES,
                    values=update["ExpressionAttributeValues"],
                )
            else:
                await self._transact([{"Update": update}, count])
        except (CheckFailed, TransactionCanceled):
            return None
        # What the update made of the item, decoded as any read decodes it.
        values = update["ExpressionAttributeValues"]
        new_item = {
            **item,
            "status": values[":running"],
            "lease_owner": values[":owner"],
            "lease_expires_epoch_ms": values[":exp"],
            "next_due_epoch_ms": values[":exp"],
            "updated_at_epoch_ms": values[":now"],
            "version": values[":new"],
            "search_status_key": values[":ssk"],
            "search_sort": values[":sort"],
            COUNTED: values[":one"],
        }
        return await self._record(new_item)

    async def renew_lease(
        self,
        tenant_id: str,
        execution_id: str,
        owner: str,
        version: int,
        now_ms: int,
        lease_ms: int,
    ) -> ExecutionRecord | None:
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")
        expires = now_ms + lease_ms
        try:
            item = await self._db.update_item(
                self._table,
                key_of(tenant_id, execution_id),
                "SET lease_expires_epoch_ms = :exp, next_due_epoch_ms = :exp",
                # No TTL guard: a RUNNING record is live, and a live record never expires.
                condition="#status = :running AND lease_owner = :owner AND #version = :version",
                names=NAMES,
                values={
                    ":running": S(ExecutionStatus.RUNNING.value),
                    ":owner": S(owner),
                    ":version": N(version),
                    ":exp": N(expires),
                },
            )
        except CheckFailed:
            return None
        return await self._record(item)
