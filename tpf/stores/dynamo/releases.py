"""``DynamoReleaseStore``: the release registry in ``tpf_release_registry`` (spec §5.4, §9).

One partition per pipeline (``registry_key = "{tenant}#{pipeline}"``) holds immutable
``release:{releaseVersion}`` items and append-only ``activation:%019d:{releaseVersion}`` events.
There is no mutable "active" pointer: the active release is the latest activation (one
``Query``, descending, ``Limit 1``), and a record's ``status``/``activated_at_epoch_ms`` are
derived on read. Each activation event embeds a copy of the (immutable) release it activates,
so ``active()`` — read on every submit admission — answers in that one request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from msgspec.structs import replace

from tpf.config.settings import Settings
from tpf.core.errors import NotFound
from tpf.core.records import ReleaseRecord, ReleaseStatus
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo, TransactionCanceled
from tpf.stores.dynamo.codec import Item, N, S, get_n, get_s, release_from_json, to_json
from tpf.stores.rules import release_conflict


def _derive(record: ReleaseRecord, active: bool, activated_at: int) -> ReleaseRecord:
    return replace(
        record,
        status=ReleaseStatus.ACTIVE if active else ReleaseStatus.REGISTERED,
        activated_at_epoch_ms=activated_at,
        updated_at_epoch_ms=max(record.updated_at_epoch_ms, activated_at),
    )


def _activation(item: Item) -> tuple[str, int]:
    """``(release_version, activated_at)`` of an activation event item."""
    return get_s(item, "release_version"), get_n(item, "activated_at_epoch_ms")


class DynamoReleaseStore:
    def __init__(self, client: Any, settings: Settings) -> None:
        self._db = Dynamo(client)
        self._table = settings.dynamo.release_table

    def _key(self, tenant_id: str, pipeline_id: str, release_version: str) -> Item:
        return {
            "registry_key": S(keys.registry_key(tenant_id, pipeline_id)),
            "registry_sort": S(keys.release_sort(release_version)),
        }

    async def register(self, record: ReleaseRecord) -> ReleaseRecord:
        stored = replace(record, status=ReleaseStatus.REGISTERED, activated_at_epoch_ms=0)
        item = {
            **self._key(record.tenant_id, record.pipeline_id, record.release_version),
            "record_type": S("RELEASE"),
            "release_version": S(record.release_version),
            "created_at_epoch_ms": N(record.created_at_epoch_ms),
            "record_json": S(to_json(stored)),
        }
        try:
            await self._db.put_item(
                self._table,
                item,
                condition="attribute_not_exists(registry_sort)",
                return_old_on_failure=True,
            )
        except CheckFailed as failed:
            old = failed.item or await self._db.get_item(self._table, self._key_of(item))
            if old is None:  # releases are never deleted; only a broken table gets here
                raise
            existing = release_from_json(get_s(old, "record_json"))
            conflict = release_conflict(existing, record)
            if conflict is not None:
                raise conflict from None
            derived = await self.get(record.tenant_id, record.pipeline_id, record.release_version)
            return derived or existing
        # A release cannot have been activated before it existed: it is REGISTERED.
        return stored

    @staticmethod
    def _key_of(item: Item) -> Item:
        return {"registry_key": item["registry_key"], "registry_sort": item["registry_sort"]}

    async def _activations(self, tenant_id: str, pipeline_id: str) -> list[tuple[str, int]]:
        """Every activation event of the pipeline, latest first (few: operators make them)."""
        items = await self._db.query_all(
            self._table,
            "registry_key = :k AND begins_with(registry_sort, :p)",
            {":k": S(keys.registry_key(tenant_id, pipeline_id)), ":p": S(keys.ACTIVATION_PREFIX)},
            forward=False,
            consistent=True,
            projection="release_version, activated_at_epoch_ms",
        )
        return [_activation(i) for i in items]

    @staticmethod
    def _status(record: ReleaseRecord, activations: list[tuple[str, int]]) -> ReleaseRecord:
        latest = activations[0][0] if activations else None
        activated = next((at for v, at in activations if v == record.release_version), 0)
        return _derive(record, latest == record.release_version, activated)

    async def get(
        self, tenant_id: str, pipeline_id: str, release_version: str
    ) -> ReleaseRecord | None:
        item, activations = await asyncio.gather(
            self._db.get_item(self._table, self._key(tenant_id, pipeline_id, release_version)),
            self._activations(tenant_id, pipeline_id),
        )
        if item is None:
            return None
        return self._status(release_from_json(get_s(item, "record_json")), activations)

    async def list(self, tenant_id: str, pipeline_id: str) -> list[ReleaseRecord]:
        items, activations = await asyncio.gather(
            self._db.query_all(
                self._table,
                "registry_key = :k AND begins_with(registry_sort, :p)",
                {
                    ":k": S(keys.registry_key(tenant_id, pipeline_id)),
                    ":p": S(keys.RELEASE_PREFIX),
                },
                consistent=True,
            ),
            self._activations(tenant_id, pipeline_id),
        )
        records = [release_from_json(get_s(i, "record_json")) for i in items]
        records.sort(key=lambda r: r.created_at_epoch_ms)  # stable: ties keep version order
        return [self._status(r, activations) for r in records]

    async def activate(
        self, tenant_id: str, pipeline_id: str, release_version: str, now_ms: int
    ) -> ReleaseRecord:
        key = self._key(tenant_id, pipeline_id, release_version)
        item = await self._db.get_item(self._table, key)
        if item is None:
            raise NotFound(f"release {release_version} of pipeline {pipeline_id} is not registered")
        event = {
            "registry_key": key["registry_key"],
            "registry_sort": S(keys.activation_sort(now_ms, release_version)),
            "record_type": S("ACTIVATION"),
            "release_version": S(release_version),
            "activated_at_epoch_ms": N(now_ms),
            "record_json": item["record_json"],  # the immutable release, for one-read active()
        }
        try:
            await self._db.transact_write(
                [
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": key,
                            "ConditionExpression": "attribute_exists(registry_sort)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": event,
                            "ConditionExpression": "attribute_not_exists(registry_sort)",
                        }
                    },
                ]
            )
        except TransactionCanceled as canceled:
            if canceled.failed(0):
                raise NotFound(f"release {release_version} is not registered") from None
            # The same version was activated in the same millisecond: that event is ours too.
        record = release_from_json(get_s(item, "record_json"))
        return _derive(record, True, now_ms)

    async def active(self, tenant_id: str, pipeline_id: str) -> ReleaseRecord | None:
        items, _ = await self._db.query(
            self._table,
            "registry_key = :k AND begins_with(registry_sort, :p)",
            {":k": S(keys.registry_key(tenant_id, pipeline_id)), ":p": S(keys.ACTIVATION_PREFIX)},
            forward=False,
            limit=1,
            consistent=True,
        )
        if not items:
            return None
        _, activated_at = _activation(items[0])
        return _derive(release_from_json(get_s(items[0], "record_json")), True, activated_at)
