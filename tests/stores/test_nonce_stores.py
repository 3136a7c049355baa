"""Choosing and provisioning the nonce store: ``tpf.worker.nonce-*`` keys, ``open_nonce_guard``,
the DynamoDB table ``tpf bootstrap aws`` creates, and the DynamoDB guard failing closed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.stores.conftest import dynamo_for
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.config import load_settings
from tpf.config.nonces import nonce_path, nonce_store
from tpf.config.settings import Settings, StateSettings
from tpf.core.clock import FakeClock
from tpf.core.errors import ConfigError, StoreUnusable, Unavailable
from tpf.stores.nonces import (
    DynamoNonceGuard,
    MemoryNonceGuard,
    SqliteNonceGuard,
    open_nonce_guard,
)

MEMORY_STORES = {
    "state__provider": "memory",
    "releases__registry_provider": "memory",
    "workers__lifecycle_provider": "memory",
}


def test_keys_parse_and_auto_follows_the_stores(tmp_path: Path) -> None:
    settings = load_settings(
        {},
        overrides={
            "tpf.worker.nonce-store": "DYNAMO",
            "tpf.worker.nonce-table": "my_nonces",
            "tpf.worker.nonce-path": "/var/lib/tpf/nonces.db",
        },
    )
    assert nonce_store(settings) == "dynamo"
    assert settings.workers.nonce_table == "my_nonces"
    assert nonce_path(settings) == "/var/lib/tpf/nonces.db"
    with pytest.raises(
        ConfigError, match=re.escape("tpf.worker.nonce-store: unknown nonce store 'redis'")
    ):
        load_settings({}, overrides={"tpf.worker.nonce-store": "redis"})

    default = Settings(state=StateSettings(dir=str(tmp_path)))
    assert nonce_store(default) == "sqlite"  # the embedded default: a file in the state dir
    assert nonce_path(default) == f"{tmp_path}/worker-nonces.sqlite3"
    assert nonce_store(default.replace(**MEMORY_STORES)) == "memory"
    assert nonce_store(default.replace(workers__lifecycle_provider="dynamo")) == "dynamo"
    assert nonce_store(default.replace(state__provider="dynamo")) == "dynamo"
    chosen = default.replace(state__provider="dynamo", workers__nonce_store="sqlite")
    assert nonce_store(chosen) == "sqlite"  # an explicit choice wins


async def test_open_nonce_guard_builds_the_chosen_guard(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = Settings(state=StateSettings(dir=str(tmp_path / "state")))
    sqlite_guard = await open_nonce_guard(settings, clock)
    try:
        assert isinstance(sqlite_guard, SqliteNonceGuard)
        assert await sqlite_guard.claim("n-1", clock.now_ms() + 1_000)
    finally:
        await sqlite_guard.aclose()
    assert (tmp_path / "state" / "worker-nonces.sqlite3").is_file()
    again = await open_nonce_guard(settings, clock)  # what a restarted replica opens
    try:
        assert not await again.claim("n-1", clock.now_ms() + 1_000)
    finally:
        await again.aclose()
    memory = await open_nonce_guard(settings.replace(**MEMORY_STORES), clock)
    assert isinstance(memory, MemoryNonceGuard)


async def test_open_nonce_guard_on_dynamo_with_its_own_or_shared_clients(
    request: pytest.FixtureRequest,
) -> None:
    clock = FakeClock()
    async with dynamo_for(request, state__provider="dynamo") as (_, settings):
        own = await open_nonce_guard(settings, clock)  # AWS clients of its own
        assert isinstance(own, DynamoNonceGuard)
        assert await own.claim("n-1", clock.now_ms() + 1_000)
        await own.aclose()  # closes its clients
        aws = AwsClients(settings)
        try:
            shared = await open_nonce_guard(settings, clock, aws=aws)
            assert not await shared.claim("n-1", clock.now_ms() + 1_000)
            await shared.aclose()
            client = await aws.client("dynamodb")  # still open: it was not the guard's
            item = await client.get_item(
                TableName="tpf_worker_nonce", Key={"nonce": {"S": "n-1"}}, ConsistentRead=True
            )
        finally:
            await aws.close()
    expires = clock.now_ms() + 1_000
    assert item["Item"]["expires_epoch_ms"] == {"N": str(expires)}
    assert item["Item"]["ttl_epoch_s"] == {"N": str(-(-expires // 1000))}


async def test_the_dynamo_guard_fails_closed(request: pytest.FixtureRequest) -> None:
    clock = FakeClock()
    async with dynamo_for(request, state__provider="dynamo") as (client, settings):
        absent = settings.replace(workers__nonce_table="no_such_table")
        with pytest.raises(StoreUnusable, match=r"no_such_table.*tpf bootstrap aws"):
            await DynamoNonceGuard.open(client, absent, clock)
        # A guard whose table went away refuses to answer rather than accept a request.
        guard = DynamoNonceGuard(client, "no_such_table", clock)
        with pytest.raises(Unavailable):  # DynamoDB's ResourceNotFoundException
            await guard.claim("n-1", clock.now_ms() + 1_000)


async def test_bootstrap_creates_the_nonce_table_with_ttl(aws_settings: Settings) -> None:
    aws = AwsClients(aws_settings)
    try:
        created = await bootstrap_aws(aws_settings, aws)
        assert "created table tpf_worker_nonce" in created
        client = await aws.client("dynamodb")
        ttl = await client.describe_time_to_live(TableName="tpf_worker_nonce")
        assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl_epoch_s"
        assert await bootstrap_aws(aws_settings, aws) == []
    finally:
        await aws.close()


async def test_no_nonce_table_without_the_dynamo_nonce_store(aws_settings: Settings) -> None:
    settings = aws_settings.replace(workers__nonce_store="sqlite")
    aws = AwsClients(settings)
    try:
        created = await bootstrap_aws(settings, aws)
        assert any("tpf_execution" in line for line in created)
        assert not any("tpf_worker_nonce" in line for line in created)
    finally:
        await aws.close()
