"""Chunked DynamoDB payloads are never referenced unless all there, and never read truncated.

``BatchWriteItem`` is not atomic: DynamoDB may leave any of its puts in ``UnprocessedItems``.
:class:`HeldChunks` injects that at the client (the real moto client underneath, so conditions
and queries are DynamoDB's): it holds back chunk puts for a number of calls while manifest puts
still land, the worst order a batch of chunks and manifest could land in.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from msgspec.structs import replace as struct_replace

from tests.stores.test_execution_store_contract import T0, make
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core.errors import RetryableError, StoreUnavailable, TpfError
from tpf.stores.dynamo import DynamoExecutionStore, keys
from tpf.stores.dynamo.client import Dynamo
from tpf.stores.dynamo.payloads import CHUNK_BYTES, PayloadStore

DATA = bytes(range(256)) * (CHUNK_BYTES * 5 // 2 // 256)  # 2.5 chunks: 3 parts
PARTS = [keys.payload_part(i) for i in range(3)]


class HeldChunks:
    """The real client, except that ``batch_write_item`` leaves every chunk put unprocessed for
    the next ``hold`` calls (manifest puts go through). ``landed`` lists each part as it is
    stored, in order."""

    def __init__(self, client: Any, hold: int = 0) -> None:
        self._client = client
        self.hold = hold
        self.landed: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def batch_write_item(self, **params: Any) -> dict[str, Any]:
        [(table, requests)] = params["RequestItems"].items()
        held: list[dict[str, Any]] = []
        if self.hold > 0:
            self.hold -= 1
            held = [r for r in requests if _part(r["PutRequest"]["Item"]) != keys.MANIFEST]
        through = [r for r in requests if r not in held]
        if through:
            await self._client.batch_write_item(RequestItems={table: through})
            self.landed += [_part(r["PutRequest"]["Item"]) for r in through]
        return {"UnprocessedItems": {table: held} if held else {}}

    async def put_item(self, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._client.put_item(**params)
        if "payload_part" in params["Item"]:
            self.landed.append(_part(params["Item"]))
        return result


def _part(item: dict[str, Any]) -> str:
    return str(item["payload_part"]["S"])


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry unprocessed items at once (the backoff's length is not what is tested here)."""
    monkeypatch.setattr("tpf.stores.dynamo.client._backoff_s", lambda attempt: 0.0)


@pytest.fixture
async def dynamo(dynamo_settings: Settings) -> AsyncIterator[tuple[Any, Settings]]:
    """The execution tables, created and empty (``tests/stores/conftest.py``)."""
    settings = replace(
        dynamo_settings,
        releases=replace(dynamo_settings.releases, registry_provider="memory"),
        workers=replace(dynamo_settings.workers, lifecycle_provider="memory"),
    )
    clients = AwsClients(settings)
    try:
        yield await clients.client("dynamodb"), settings
    finally:
        await clients.close()


def payloads(client: Any, settings: Settings) -> PayloadStore:
    """A fresh store: nothing cached, as on another coordinator."""
    return PayloadStore(Dynamo(client), settings.dynamo.execution_payload_table)


async def stored(client: Any, table: str) -> dict[str, dict[str, Any]]:
    """Every stored payload item by ``payload_part``."""
    page = await client.scan(TableName=table)
    return {_part(item): item for item in page["Items"]}


async def test_the_normal_path_writes_chunks_and_a_manifest_and_reads_them_back(
    dynamo: tuple[Any, Settings],
) -> None:
    client, settings = dynamo
    table = settings.dynamo.execution_payload_table
    ref = await payloads(client, settings).put("t1", "e1", "input", DATA, 0)
    assert ref.digest == "sha256:" + hashlib.sha256(DATA).hexdigest()
    items = await stored(client, table)
    assert sorted(items) == [*PARTS, keys.MANIFEST]
    manifest = items[keys.MANIFEST]
    assert manifest["chunk_count"] == {"N": "3"}
    assert manifest["payload_length_bytes"] == {"N": str(len(DATA))}
    assert manifest["sha256"] == {"S": hashlib.sha256(DATA).hexdigest()}
    assert all("ttl_epoch_s" not in item for item in items.values())  # a live execution's
    assert await payloads(client, settings).get(ref) == DATA

    # Written again by another coordinator: nothing is rewritten.
    spy = HeldChunks(client)
    assert await payloads(spy, settings).put("t1", "e1", "input", DATA, 0) == ref
    assert spy.landed == []


async def test_unprocessed_chunks_are_retried_and_the_manifest_lands_last(
    dynamo: tuple[Any, Settings],
) -> None:
    client, settings = dynamo
    spy = HeldChunks(client, hold=3)
    ref = await payloads(spy, settings).put("t1", "e1", "input", DATA, 0)
    assert sorted(spy.landed[:-1]) == PARTS
    assert spy.landed[-1] == keys.MANIFEST  # only once every chunk is stored
    assert await payloads(client, settings).get(ref) == DATA


async def test_chunks_that_never_land_leave_no_manifest_and_no_reference(
    dynamo: tuple[Any, Settings],
) -> None:
    client, settings = dynamo
    spy = HeldChunks(client, hold=1_000)
    with pytest.raises(RetryableError, match="unprocessed"):
        await payloads(spy, settings).put("t1", "e1", "input", DATA, 0)
    assert keys.MANIFEST not in await stored(client, settings.dynamo.execution_payload_table)

    # Through the execution store: the submit fails retryably and writes no execution item.
    record = struct_replace(make(), input_payload={"blob": "x" * 600_000})
    with pytest.raises(RetryableError):
        await DynamoExecutionStore(spy, settings).create_or_get(record, T0)
    assert (await client.scan(TableName=settings.dynamo.execution_table))["Items"] == []

    # Once DynamoDB takes the writes again, the retried submit completes the payload.
    spy.hold = 0
    assert await DynamoExecutionStore(spy, settings).create_or_get(record, T0) == (record, False)
    assert await DynamoExecutionStore(client, settings).get("t1", "e1", T0) == record


async def test_a_manifest_without_its_chunks_is_completed_by_the_next_write(
    dynamo: tuple[Any, Settings],
) -> None:
    """What an older version's single batch could leave: the manifest landed, the chunks not.
    The next write of the payload does not take the manifest for the whole payload."""
    client, settings = dynamo
    table = settings.dynamo.execution_payload_table
    store = payloads(client, settings)
    ref = await store.put("t1", "e1", "input", DATA, 0)
    for part in PARTS[1:]:
        await client.delete_item(
            TableName=table, Key={"payload_id": {"S": ref.payload_id}, "payload_part": {"S": part}}
        )
    with pytest.raises(TpfError) as incomplete:
        await payloads(client, settings).get(ref)
    assert incomplete.value.code == "PAYLOAD_CORRUPT"
    # The damage is named for the log; a client sees only the generic store message (503).
    assert isinstance(incomplete.value, StoreUnavailable)
    assert "2 of 3 chunks are missing" in incomplete.value.detail

    spy = HeldChunks(client)
    assert await payloads(spy, settings).put("t1", "e1", "input", DATA, 0) == ref
    assert sorted(spy.landed) == PARTS[1:]  # only the missing chunks; the manifest stays
    assert await payloads(client, settings).get(ref) == DATA


@pytest.mark.parametrize(
    ("part", "change", "problem"),
    [
        (keys.MANIFEST, None, "has no manifest"),
        (PARTS[2], None, "is incomplete: 1 of 3 chunks are missing"),
        (keys.MANIFEST, {"payload_length_bytes": {"N": "1"}}, "where its manifest says 1"),
        (keys.MANIFEST, {"chunk_count": {"N": "2"}}, "where its manifest says"),
        (PARTS[0], {"payload_bytes": {"B": b"x" * CHUNK_BYTES}}, "does not match its digest"),
    ],
)
async def test_a_read_verifies_chunks_length_and_digest(
    dynamo: tuple[Any, Settings], part: str, change: dict[str, Any] | None, problem: str
) -> None:
    """A damaged payload is an error naming the damage, never a short or altered payload."""
    client, settings = dynamo
    table = settings.dynamo.execution_payload_table
    ref = await payloads(client, settings).put("t1", "e1", "input", DATA, 0)
    item = (await stored(client, table))[part]
    if change is None:
        await client.delete_item(
            TableName=table, Key={"payload_id": item["payload_id"], "payload_part": {"S": part}}
        )
    else:
        await client.put_item(TableName=table, Item={**item, **change})
    with pytest.raises(TpfError) as corrupt:
        await payloads(client, settings).get(ref)
    assert corrupt.value.code == "PAYLOAD_CORRUPT"
    assert isinstance(corrupt.value, StoreUnavailable) and problem in corrupt.value.detail
