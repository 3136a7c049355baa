"""DynamoDB status counts and search on items written before them (issue 12).

An item from before the counters and search indexes has neither ``status_counted`` nor the
search keys: it is not counted and not found until its next write, which counts it into its
new status without taking it out of the old one (so no count goes negative) and indexes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from msgspec.structs import replace

from tests.stores.test_dynamo_specific import DynamoProbe
from tests.stores.test_search_contract import rec
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core.records import ExecutionStatus
from tpf.core.search import ExecutionQuery
from tpf.stores.dynamo import DynamoExecutionStore
from tpf.stores.dynamo.codec import S
from tpf.stores.dynamo.status_counts import counter_keys

T0 = rec(0).updated_at_epoch_ms


@pytest.fixture
async def probe(dynamo_settings: Settings) -> AsyncIterator[DynamoProbe]:
    clients = AwsClients(dynamo_settings)
    try:
        yield DynamoProbe(clients, await clients.client("dynamodb"), dynamo_settings)
    finally:
        await clients.close()


async def _make_old(probe: DynamoProbe, execution_id: str) -> None:
    """Strip what this build adds from a stored item, and its count."""
    table = probe.settings.dynamo.execution_table
    await probe.client.update_item(
        TableName=table,
        Key={"tenant_id": S("t1"), "execution_id": S(execution_id)},
        UpdateExpression=(
            "REMOVE status_counted, search_key, search_status_key, search_pipeline_key, search_sort"
        ),
    )
    for key in counter_keys(probe.settings.dynamo.search_shards):
        await probe.client.delete_item(TableName=table, Key=key)


async def test_an_old_item_is_counted_and_found_from_its_next_write(probe: DynamoProbe) -> None:
    store = DynamoExecutionStore(probe.client, probe.settings)
    await store.create_or_get(rec(1), T0)
    await _make_old(probe, "e001")
    query = ExecutionQuery(tenant_id="t1")
    assert (await store.search(query, 10, None, T0)).items == []
    assert await store.count_by_status() == {}

    fresh = DynamoExecutionStore(probe.client, probe.settings)  # knows nothing of it
    old = await fresh.get("t1", "e001", T0)
    assert old is not None
    failed = replace(old, status=ExecutionStatus.FAILED, version=1, updated_at_epoch_ms=T0 + 5)
    assert await fresh.compare_and_set(failed, 0) == failed
    assert await fresh.count_by_status() == {"FAILED": 1}
    assert [r.execution_id for r in (await fresh.search(query, 10, None, T0)).items] == ["e001"]
    failed_only = ExecutionQuery(tenant_id="t1", status=ExecutionStatus.FAILED)
    assert [r.execution_id for r in (await fresh.search(failed_only, 10, None, T0)).items] == [
        "e001"
    ]
    assert probe.ops["Scan"] == 0


async def test_claims_and_takeovers_move_counts_exactly(probe: DynamoProbe) -> None:
    store = DynamoExecutionStore(probe.client, probe.settings)
    for n in range(1, 4):
        await store.create_or_get(rec(n), T0)
    assert await store.claim_lease("t1", "e001", "w1", T0, 1_000) is not None
    assert await store.count_by_status() == {"QUEUED": 2, "RUNNING": 1}
    # A takeover of the expired lease: RUNNING stays RUNNING, nothing moves.
    taken = await store.claim_lease("t1", "e001", "w2", T0 + 5_000, 1_000)
    assert taken is not None and taken.lease_owner == "w2" and taken.version == 2
    assert await store.count_by_status() == {"QUEUED": 2, "RUNNING": 1}
    # Two claimers of one execution: one wins, the count moves once.
    other = DynamoExecutionStore(probe.client, probe.settings)
    first = await store.claim_lease("t1", "e002", "w1", T0, 1_000)
    second = await other.claim_lease("t1", "e002", "w2", T0, 1_000)
    assert first is not None and second is None
    assert await store.count_by_status() == {"QUEUED": 1, "RUNNING": 2}
    running = ExecutionQuery(tenant_id="t1", status=ExecutionStatus.RUNNING)
    found = await store.search(running, 10, None, T0 + 5_000)
    assert [r.execution_id for r in found.items] == ["e001", "e002"]
    assert probe.ops["Scan"] == 0
