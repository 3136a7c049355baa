"""Sweeper leadership leases in DynamoDB: one conditional write per acquire or renewal.

The lease lives in the release registry table (under a reserved registry key that no tenant
can produce, since tenant keys are ``{tenant}#{pipeline}`` and this one has no pipeline part
after its ``#``), so the HA shape needs no extra table.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tpf.config.settings import Settings
from tpf.core.errors import ConditionFailed
from tpf.stores.dynamo.client import Dynamo
from tpf.stores.dynamo.codec import N, S

LEADERSHIP_KEY = "__tpf__#"


class DynamoLeaseStore:
    def __init__(self, client: Any, settings: Settings) -> None:
        self._db = Dynamo(client)
        self._table = settings.dynamo.release_table

    def _key(self, name: str) -> dict[str, Any]:
        return {"registry_key": S(LEADERSHIP_KEY), "registry_sort": S(f"leader:{name}")}

    async def acquire(self, name: str, owner: str, now_ms: int, lease_ms: int) -> bool:
        try:
            await self._db.put_item(
                self._table,
                {
                    **self._key(name),
                    "record_type": S("LEADER_LEASE"),
                    "lease_owner": S(owner),
                    "lease_expires_epoch_ms": N(now_ms + lease_ms),
                },
                condition=(
                    "attribute_not_exists(registry_key) OR lease_owner = :owner "
                    "OR lease_expires_epoch_ms <= :now"
                ),
                values={":owner": S(owner), ":now": N(now_ms)},
            )
        except ConditionFailed:
            return False
        return True

    async def release(self, name: str, owner: str) -> None:
        # Someone else may hold it by now: then there is nothing of ours to give up.
        with contextlib.suppress(ConditionFailed):
            await self._db.delete_item(
                self._table,
                self._key(name),
                condition="lease_owner = :owner",
                values={":owner": S(owner)},
            )
