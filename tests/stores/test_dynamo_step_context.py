"""The step outputs kept for later steps' ``ctx`` (issue 13) on DynamoDB: up to 256 KiB by
default, next to an input that may be as large, so a stored context too big for the item moves
to payload chunks like a large input, and a fresh store (another coordinator) reads it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from msgspec.structs import replace

from tests.stores.test_execution_store_contract import T0, make
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.stores.dynamo import DynamoExecutionStore


@pytest.fixture
async def dynamo(dynamo_settings: Settings) -> AsyncIterator[tuple[Any, Settings]]:
    clients = AwsClients(dynamo_settings)
    try:
        yield await clients.client("dynamodb"), dynamo_settings
    finally:
        await clients.close()


async def test_a_large_stored_context_round_trips(dynamo: tuple[Any, Settings]) -> None:
    client, settings = dynamo
    store = DynamoExecutionStore(client, settings)
    context = {"Load": {"rows": ["r" * 100] * 4_000}, "Small": {"n": 1}}  # ~400 KB
    await store.create_or_get(make("e1", "k1"), T0)
    record = await store.get("t1", "e1", T0)
    assert record is not None and record.context_payload is None
    parked = replace(record, version=record.version + 1, context_payload=context)
    assert await store.compare_and_set(parked, record.version) is not None
    item = (
        await client.get_item(
            TableName=settings.dynamo.execution_table,
            Key={"tenant_id": {"S": "t1"}, "execution_id": {"S": "e1"}},
        )
    )["Item"]
    assert "context_payload_reference" in item  # chunked, not inline
    fresh = await DynamoExecutionStore(client, settings).get("t1", "e1", T0)
    assert fresh is not None and fresh.context_payload == context
