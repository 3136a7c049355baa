"""Executions per status on DynamoDB without a Scan: sharded counter items, moved atomically.

Counter items live in the execution table under the partition ``#status-counts`` (a tenant id
no tenant can have: tenant ids never start with ``#``), sort key ``shard#{n}``, one numeric
attribute per status. Every write that changes an execution's status carries one ``Update``
``ADD #to :one, #from :minus`` of the counter item of the execution's shard in the same
``TransactWriteItems`` as the change, so a count is exact by construction: a crash cannot
apply one without the other. Counter items carry no index attribute, so no GSI sees them.

Shards: :attr:`~tpf.config.settings.DynamoSettings.search_shards` (default 8). One item takes
every status change of a fleet otherwise, and a partition sustains about 1,000 writes/s; eight
give ~8,000 status changes/s of headroom while ``count_by_status`` stays one ``BatchGetItem``
of eight small items (a metrics scrape costs eight read units, whatever the table size).

Items written before the counters existed lack ``status_counted``: the first write that
rewrites one counts it into its new status without taking it out of the old (it was never
counted), so counts stay exact for everything written since, and never go negative. Two
removals are not seen: DynamoDB's own TTL deletion of a terminal item (it has no hook short of
a stream) and an expired item replaced under its own id; terminal counts then include
executions past their retention until a purge finds them, a documented gap.
"""

from __future__ import annotations

from tpf.stores.dynamo import keys
from tpf.stores.dynamo.codec import Item, N, S

COUNTS_PARTITION = "#status-counts"
COUNTED = "status_counted"  # on every execution item written since the counters exist


def counter_key(shard: int) -> Item:
    return {"tenant_id": S(COUNTS_PARTITION), "execution_id": S(f"shard#{shard}")}


def counter_keys(shards: int) -> list[Item]:
    return [counter_key(n) for n in range(max(1, shards))]


def count_action(
    table: str,
    shards: int,
    tenant_id: str,
    execution_id: str,
    from_status: str | None,
    to_status: str | None,
) -> Item | None:
    """The transaction action moving one execution's count from ``from_status`` (``None``:
    not counted yet) to ``to_status`` (``None``: deleted); ``None`` when nothing moves."""
    if from_status == to_status:
        return None
    names: dict[str, str] = {}
    values: Item = {}
    adds: list[str] = []
    if to_status is not None:
        names["#to"], values[":one"] = to_status, N(1)
        adds.append("#to :one")
    if from_status is not None:
        names["#from"], values[":minus"] = from_status, N(-1)
        adds.append("#from :minus")
    shard = keys.shard_of(tenant_id, execution_id, shards)
    return {
        "Update": {
            "TableName": table,
            "Key": counter_key(shard),
            "UpdateExpression": "ADD " + ", ".join(adds),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def total_counts(items: list[Item]) -> dict[str, int]:
    """The counter items summed per status, leaving out statuses at zero."""
    totals: dict[str, int] = {}
    for item in items:
        for name, value in item.items():
            if name in ("tenant_id", "execution_id") or "N" not in value:
                continue
            totals[name] = totals.get(name, 0) + int(value["N"])
    return {status: n for status, n in totals.items() if n > 0}
