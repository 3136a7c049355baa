"""``DynamoWorkerStore``: worker lifecycle events in ``tpf_worker_registry`` (spec §6.1, §9).

Events are append-only items ``worker:{workerId}:%019d(at):{seq}:{EVENT}`` in the pipeline's
partition, folded on read with :func:`~tpf.stores.rules.fold_worker_event`. ``seq`` is this
store's counter plus a random per-process token: two events of one worker in the same
millisecond get distinct keys (the original's ``worker:{id}:{at}:{EVENT}`` collided and failed
with a 500) and, from one process, fold in the order they were appended.

Compaction (the original never compacts): when a worker has :data:`COMPACT_AFTER` events, the
next append writes one ``worker:{workerId}:snapshot`` item holding the fold (including the new
event) and deletes the events it covers, all in ONE transaction, so a reader never sees both a
snapshot and an event it covers. A reader folds the snapshot, then the remaining events in key
order. The snapshot is overwritten only at the revision its writer read, so two compactors
cannot both win. History per worker stays bounded by ``COMPACT_AFTER`` events + 1 snapshot.

Requests: ``append`` one ``Query`` (the worker's items) + one ``PutItem`` (every
``COMPACT_AFTER``-th append: one ``TransactWriteItems`` instead); ``get`` one ``Query``;
``list`` one ``Query`` page per 1 MB of the pipeline's registry.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from typing import Any

from tpf.config.settings import Settings
from tpf.core.records import WorkerEvent, WorkerRecord
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import Dynamo, TransactionCanceled
from tpf.stores.dynamo.codec import (
    Item,
    N,
    S,
    get_s,
    opt_n,
    to_json,
    worker_event_from_json,
    worker_from_json,
)
from tpf.stores.rules import fold_worker_event

COMPACT_AFTER = 20
_TRANSACTION_MAX = 100  # DynamoDB's limit on actions per transaction
_SNAPSHOT = "worker_snapshot"
_EVENT = "worker_event"


class _History:
    """One worker's stored items: the snapshot (if any) and the events after it."""

    def __init__(self, items: list[Item]) -> None:
        self.snapshot: Item | None = None
        self.events: list[Item] = []
        for item in items:
            if get_s(item, "record_type") == _SNAPSHOT:
                self.snapshot = item
            else:
                self.events.append(item)
        self.events.sort(key=lambda i: get_s(i, "registry_sort"))

    @property
    def revision(self) -> int:
        return 0 if self.snapshot is None else opt_n(self.snapshot, "snapshot_rev")

    def fold(self, events: list[Item]) -> WorkerRecord | None:
        record = None
        if self.snapshot is not None:
            record = worker_from_json(get_s(self.snapshot, "record_json"))
        for item in events:
            record = fold_worker_event(record, worker_event_from_json(get_s(item, "event_json")))
        return record


class DynamoWorkerStore:
    def __init__(
        self, client: Any, settings: Settings, *, compact_after: int = COMPACT_AFTER
    ) -> None:
        self._db = Dynamo(client)
        self._table = settings.dynamo.worker_table
        self._compact_after = max(1, min(compact_after, _TRANSACTION_MAX - 2))
        self._seq = itertools.count()
        self._token = uuid.uuid4().hex[:8]

    async def _items(self, tenant_id: str, pipeline_id: str, prefix: str) -> list[Item]:
        return await self._db.query_all(
            self._table,
            "registry_key = :k AND begins_with(registry_sort, :p)",
            {":k": S(keys.registry_key(tenant_id, pipeline_id)), ":p": S(prefix)},
            consistent=True,
        )

    async def _history(self, tenant_id: str, pipeline_id: str, worker_id: str) -> _History:
        items = await self._items(tenant_id, pipeline_id, keys.worker_prefix(worker_id))
        # The prefix of worker "a" also matches worker "a:b": keep only this worker's items.
        return _History([i for i in items if get_s(i, "worker_id") == worker_id])

    def _event_item(self, event: WorkerEvent) -> Item:
        seq = f"{next(self._seq):012d}-{self._token}"
        return {
            "registry_key": S(keys.registry_key(event.tenant_id, event.pipeline_id)),
            "registry_sort": S(
                keys.worker_event_sort(
                    event.worker_id, event.at_epoch_ms, seq, event.event_type.value
                )
            ),
            "record_type": S(_EVENT),
            "event_type": S(event.event_type.value),
            "worker_id": S(event.worker_id),
            "event_at_epoch_ms": N(event.at_epoch_ms),
            "event_json": S(to_json(event)),
        }

    async def append(self, event: WorkerEvent) -> WorkerRecord | None:
        history = await self._history(event.tenant_id, event.pipeline_id, event.worker_id)
        new = self._event_item(event)
        # Fold in key order with the new event in place, exactly as a later reader will.
        events = sorted([*history.events, new], key=lambda i: get_s(i, "registry_sort"))
        record = history.fold(events)
        if record is None:
            return None  # HEARTBEAT or DRAIN of an unknown worker: store nothing
        if len(history.events) >= self._compact_after and await self._compact(
            event, history, record
        ):
            return record
        # The seq makes the key unique; the condition only guards against a broken one.
        await self._db.put_item(self._table, new, condition="attribute_not_exists(registry_sort)")
        return record

    async def _compact(self, event: WorkerEvent, history: _History, record: WorkerRecord) -> bool:
        """Replace the snapshot + every read event with one snapshot that includes ``event``.

        ``False`` if another writer changed the history first (the caller then appends the
        event as usual and a later append compacts).
        """
        covered = history.events[: _TRANSACTION_MAX - 1]
        if len(covered) < len(history.events):
            return False  # more than one transaction can delete: append, compact next time
        revision = history.revision
        snapshot = {
            "registry_key": S(keys.registry_key(event.tenant_id, event.pipeline_id)),
            "registry_sort": S(keys.worker_snapshot_sort(event.worker_id)),
            "record_type": S(_SNAPSHOT),
            "worker_id": S(event.worker_id),
            "snapshot_rev": N(revision + 1),
            "record_json": S(to_json(record)),
        }
        put: Item = {"TableName": self._table, "Item": snapshot}
        if revision == 0:
            put["ConditionExpression"] = "attribute_not_exists(registry_sort)"
        else:
            put["ConditionExpression"] = "snapshot_rev = :rev"
            put["ExpressionAttributeValues"] = {":rev": N(revision)}
        deletes = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"registry_key": i["registry_key"], "registry_sort": i["registry_sort"]},
                    "ConditionExpression": "attribute_exists(registry_sort)",
                }
            }
            for i in covered
        ]
        try:
            await self._db.transact_write([{"Put": put}, *deletes])
        except TransactionCanceled:
            return False
        return True

    async def get(self, tenant_id: str, pipeline_id: str, worker_id: str) -> WorkerRecord | None:
        history = await self._history(tenant_id, pipeline_id, worker_id)
        return history.fold(history.events)

    async def list(self, tenant_id: str, pipeline_id: str) -> list[WorkerRecord]:
        by_worker: dict[str, list[Item]] = defaultdict(list)
        for item in await self._items(tenant_id, pipeline_id, "worker:"):
            by_worker[get_s(item, "worker_id")].append(item)
        records = []
        for worker_id in sorted(by_worker):
            history = _History(by_worker[worker_id])
            record = history.fold(history.events)
            if record is not None:
                records.append(record)
        return records
